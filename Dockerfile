# syntax=docker/dockerfile:1
# Task Core: `taskcore` (node and worker) and `taskctl` in a small image.
#   docker build -t taskcore .
#   docker run -e TASKCORE_AUTH__JWT_SECRET=… -e TASKCORE_CLUSTER_SECRET=… -e TASKCORE_INIT=true \
#     -p 8080:8080 -v taskcore-data:/var/lib/taskcore taskcore
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p taskcore -p taskctl \
 && strip target/release/taskcore target/release/taskctl

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 taskcore \
 && useradd --system --uid 10001 --gid taskcore --home-dir /var/lib/taskcore taskcore \
 && mkdir -p /var/lib/taskcore && chown taskcore:taskcore /var/lib/taskcore
COPY --from=build /src/target/release/taskcore /src/target/release/taskctl /usr/local/bin/
USER taskcore
# Every setting comes from TASKCORE_… variables (see the README's configuration table).
ENV TASKCORE_DATA_DIR=/var/lib/taskcore \
    TASKCORE_HTTP_ADDR=0.0.0.0:8080 \
    TASKCORE_RAFT_ADDR=0.0.0.0:9080 \
    TASKCORE_LOG__FORMAT=json
VOLUME ["/var/lib/taskcore"]
EXPOSE 8080 9080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["taskctl", "--server", "http://127.0.0.1:8080", "node", "ready"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["taskcore"]
CMD ["serve"]
