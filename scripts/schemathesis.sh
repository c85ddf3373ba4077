#!/usr/bin/env bash
# schemathesis against a --dev node's own /openapi.json: no 500, no response outside its
# schema, no wrong content type, and the node still up afterwards.
#   scripts/schemathesis.sh [SECONDS]      (default 120)
# Uses $SCHEMATHESIS, else `schemathesis` on PATH (pip install schemathesis); without either
# it says so and exits 0. /cluster/ is left out: its writes would make the node dial whatever
# address the generator invents.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
st=${SCHEMATHESIS:-$(command -v schemathesis || true)}
if [ -z "$st" ]; then
  echo "schemathesis: SKIPPED: not installed (pip install schemathesis, or set SCHEMATHESIS)"
  exit 0
fi

cargo build --quiet -p taskcore
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
target/debug/taskcore serve --dev --http-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
  --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "admin token" "$dir/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "schemathesis: the node did not start"; cat "$dir/err"; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^taskcore: listening on \(http:[^ ]*\).*/\1/p' "$dir/out")
token=$(sed -n '/admin token/{n;p;}' "$dir/out")
[ -n "$addr" ] && [ -n "$token" ] || { echo "schemathesis: no address or token"; cat "$dir/out"; exit 1; }

# Run from the scratch directory: schemathesis keeps a cache in its working directory.
(cd "$dir" && "$st" run "$addr/openapi.json" \
  -H "Authorization: Bearer $token" -H "X-Brand-ID: 1" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --exclude-path-regex '/cluster/' \
  --phases coverage,fuzzing --max-examples 25 --seed 1 --max-time "$seconds" \
  --request-timeout 40 --warnings off)

if ! kill -0 "$pid" 2>/dev/null; then
  echo "schemathesis: the node died"; cat "$dir/err"; exit 1
fi
if grep -q "panicked" "$dir/err"; then
  echo "schemathesis: the node panicked"; grep -A5 "panicked" "$dir/err"; exit 1
fi
echo "schemathesis: no server error, no schema violation; the node is still up"
