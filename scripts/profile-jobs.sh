#!/usr/bin/env bash
# Where a busy node's time goes while it runs no-op jobs end to end: one node and one
# `taskcore worker` (release build, loopback); JOBS no-op tasks created with POST /tasks/bulk/ in
# chunks of 1,000 while the worker (CONCURRENCY slots) runs them. Prints `key=value` lines: jobs
# per second, the CPU seconds of the node and of the worker, and the mean time and count of the
# lease, batched-completion and bulk requests; with PERF=1 (and `perf` installed), the node's 25
# hottest symbols from `perf record -e cpu-clock`; with PERF=calls, the 40 symbols of Task Core,
# openraft, sled, hyper and axum with the most CPU under them (DWARF call graphs); PERF_KEEP=DIR
# keeps perf.data there.
#
# usage: scripts/profile-jobs.sh [JOBS] [CONCURRENCY]     (defaults 20000 and 50)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${1:-20000}"
concurrency="${2:-50}"
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "profile-jobs: $tool is not installed" >&2; exit 1; }
done
if [ "${PERF:-0}" != 0 ] && ! command -v perf >/dev/null; then
  echo "profile-jobs: PERF=$PERF needs perf (Debian's linux-perf)" >&2
  exit 1
fi
cargo build --quiet --release -p taskcore -p taskctl
bin="$PWD/target/release"
secret="profile-jobs-secret-of-thirty-two-bytes"
work="$(mktemp -d)"
node="" worker="" recorder=""
cleanup() {
  for p in $recorder $worker $node; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http="$(free_port)"; raft="$(free_port)"
url="http://127.0.0.1:$http"
TASKCORE_JWT_SECRET="$secret" TASKCORE_CLUSTER_SECRET="$secret" TASKCORE_LOG=error \
  "$bin/taskcore" serve --init --node-id 1 --data-dir "$work/data" \
  --http-addr "127.0.0.1:$http" --raft-addr "127.0.0.1:$raft" >/dev/null 2>"$work/node.err" &
node=$!
for _ in $(seq 300); do
  curl -sf "$url/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || { cat "$work/node.err" >&2; exit 1; }
token="$("$bin/taskctl" token --secret "$secret" --user-id 1 --username profile --brand-claim 9:Profile)"
worker_token="$("$bin/taskctl" token --secret "$secret" --user-id 2 --username worker --role worker)"
python3 -c 'import json; print(json.dumps({"tasks": [{"task_type": "data_export"}] * 1000}))' \
  > "$work/chunk.json"

TASKCORE_LOG=error "$bin/taskcore" worker --server "$url" --token "$worker_token" \
  --handler data_export=noop --concurrency "$concurrency" >/dev/null 2>&1 &
worker=$!
case "${PERF:-0}" in
  0) ;;
  calls)
    perf record -e cpu-clock -F 299 --call-graph dwarf,16384 -p "$node" -o "$work/perf.data" \
      >/dev/null 2>&1 &
    recorder=$! ;;
  *)
    perf record -e cpu-clock -F 499 -p "$node" -o "$work/perf.data" >/dev/null 2>&1 &
    recorder=$! ;;
esac
start="$(date +%s.%N)"
for _ in $(seq $(( (jobs + 999) / 1000 ))); do
  curl -sf -H "Authorization: Bearer $token" -H "X-Brand-ID: 9" \
    -H 'Content-Type: application/json' --data @"$work/chunk.json" "$url/tasks/bulk/" >/dev/null
done
total=$(( (jobs + 999) / 1000 * 1000 ))
deadline=$(( $(date +%s) + 600 ))
until [ "$(curl -sf -H "Authorization: Bearer $token" -H "X-Brand-ID: 9" \
  "$url/tasks/?status=completed&page_size=1" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')" -ge "$total" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "profile-jobs: the jobs did not finish" >&2; exit 1; }
  sleep 0.1
done
end="$(date +%s.%N)"
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
echo "jobs=$total concurrency=$concurrency jobs_per_s=$(python3 -c "print(round($total / ($end - $start)))") node_cpu_s=$(cpu "$node") worker_cpu_s=$(cpu "$worker")"
curl -sf "$url/metrics" | python3 -c '
import re, sys
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r"taskcore_http_request_duration_seconds_(sum|count)\{method=\"POST\",route=\"([^\"]+)\"\} (\S+)", line)
    if m:
        (sums if m[1] == "sum" else counts)[m[2]] = float(m[3])
for route in ("/workers/lease/", "/workers/complete/", "/tasks/bulk/"):
    n = counts.get(route, 0)
    print(f"route={route} requests={n:.0f} mean_ms={1000 * sums.get(route, 0) / n if n else 0:.2f}")
'
if [ -n "$recorder" ]; then
  kill -INT "$recorder"
  wait "$recorder" 2>/dev/null || true
  recorder=""
  # PERF_KEEP=DIR keeps the profile, for `perf report -i DIR/perf.data`.
  if [ -n "${PERF_KEEP:-}" ]; then mkdir -p "$PERF_KEEP" && cp "$work/perf.data" "$PERF_KEEP"/; fi
  if [ "$PERF" = calls ]; then
    perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | grep -E 'taskcore|openraft|sled|hyper|axum|ractor' \
      | awk '{$1=$1};1' | cut -c1-160 | head -40
  else
    perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
      | grep '%' | awk '{$1=$1};1' | cut -c1-160 | head -25
  fi
fi
