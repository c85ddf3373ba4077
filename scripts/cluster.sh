#!/usr/bin/env bash
# A local three-node Task Core cluster on loopback, from config/cluster/.
#   scripts/cluster.sh start    build, start the three nodes, initialise the cluster, print a token
#   scripts/cluster.sh stop     stop them (SIGTERM)
#   scripts/cluster.sh status   taskctl cluster status
# Data and logs go to ./data/cluster/. Set TASKCORE_BIN to a directory holding prebuilt
# taskcore and taskctl binaries to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=./data/cluster
bin=${TASKCORE_BIN:-target/release}

# Random secrets, made once and kept (mode 0600) beside the nodes' data.
secret_file() {
  local f="$dir/$1"
  if [ ! -s "$f" ]; then
    mkdir -p "$dir"
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$f")
  fi
  cat "$f"
}
secret=$(secret_file jwt-secret)
export TASKCORE_JWT_SECRET=$secret
export TASKCORE_CLUSTER_SECRET=$(secret_file cluster-secret)

token() {
  "$bin/taskctl" token --secret "$secret" --user-id 1 --username admin \
    --brand-claim 1:Default --role admin --role worker --ttl 86400
}

wait_healthy() {
  local url=$1
  for _ in $(seq 1 100); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "node at $url did not come up; see $dir/*.log" >&2
  return 1
}

start() {
  if [ -z "${TASKCORE_BIN:-}" ]; then
    cargo build --release -p taskcore -p taskctl
  fi
  mkdir -p "$dir"
  for n in 1 2 3; do
    if [ -f "$dir/node$n.pid" ] && kill -0 "$(cat "$dir/node$n.pid")" 2>/dev/null; then
      echo "node $n already runs (pid $(cat "$dir/node$n.pid"))"
      continue
    fi
    "$bin/taskcore" serve --config "config/cluster/node$n.toml" >"$dir/node$n.log" 2>&1 &
    echo $! >"$dir/node$n.pid"
  done
  for n in 1 2 3; do wait_healthy "http://127.0.0.1:808$n"; done
  local t; t=$(token)
  if ! "$bin/taskctl" --server http://127.0.0.1:8081 --token "$t" cluster status 2>/dev/null | grep -q "leader [0-9]"; then
    "$bin/taskctl" --server http://127.0.0.1:8081 --token "$t" cluster init \
      --node 1=127.0.0.1:8081,127.0.0.1:9081 \
      --node 2=127.0.0.1:8082,127.0.0.1:9082 \
      --node 3=127.0.0.1:8083,127.0.0.1:9083 >/dev/null
  fi
  for _ in $(seq 1 100); do
    ready=0
    for n in 1 2 3; do curl -fsS "http://127.0.0.1:808$n/readyz" >/dev/null 2>&1 && ready=$((ready + 1)); done
    [ "$ready" = 3 ] && break
    sleep 0.1
  done
  "$bin/taskctl" --server http://127.0.0.1:8081 --token "$t" cluster status
  echo
  echo "export TASKCORE_URL=http://127.0.0.1:8081 TASKCORE_BRAND=1 TASKCORE_TOKEN=$t"
}

stop() {
  for n in 1 2 3; do
    if [ -f "$dir/node$n.pid" ]; then
      kill "$(cat "$dir/node$n.pid")" 2>/dev/null || true
      rm -f "$dir/node$n.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) "$bin/taskctl" --server http://127.0.0.1:8081 --token "$(token)" cluster status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
