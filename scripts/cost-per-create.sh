#!/usr/bin/env bash
# What one acknowledged create costs a one-node cluster: instructions (valgrind's callgrind, which
# counts them exactly and is not disturbed by a busy machine) and syscalls (strace -c).
#
# usage: scripts/cost-per-create.sh [N]        (default 500 creates; needs valgrind and strace)
#        CALLGRIND_KEEP=DIR keeps the callgrind profile (read it with callgrind_annotate)
#
# The node runs from target/release under each tool while one keep-alive connection makes N
# sequential creates. Instructions are counted only while the creates run (callgrind_control
# turns collection on and off), divided by N. Syscalls are counted over a run with N creates
# and one with none, and the difference divided by N. Prints `key=value` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-500}"
for tool in valgrind strace python3; do
  command -v "$tool" >/dev/null || { echo "cost-per-create: $tool is not installed" >&2; exit 1; }
done
cargo build --quiet --release -p taskcore -p taskctl
bin="$PWD/target/release"
secret="cost-per-create-secret-of-thirty-two-bytes"
token="$("$bin/taskctl" token --secret "$secret" --user-id 1 --username bench --brand-claim 9:Bench)"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Runs the node under "$@" (the tool's command line), makes $1 creates, stops it with SIGTERM.
measure() {
  local creates=$1; shift
  local http raft data COLLECT_PID=""
  http="$(free_port)"; raft="$(free_port)"; data="$work/data-$creates-$RANDOM"
  TASKCORE_JWT_SECRET="$secret" TASKCORE_CLUSTER_SECRET="$secret" TASKCORE_LOG=error \
    "$@" "$bin/taskcore" serve --init --node-id 1 --data-dir "$data" \
    --http-addr "127.0.0.1:$http" --raft-addr "127.0.0.1:$raft" >/dev/null 2>"$work/node.err" &
  pid=$!
  [ -n "${COLLECTING:-}" ] && COLLECT_PID=$pid
  python3 - "$http" "$token" "$creates" "${COLLECT_PID:-}" <<'EOF'
import http.client, json, subprocess, sys, time, urllib.request
port, token, n, collect = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
deadline = time.time() + 300
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=60) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("the node never became ready")
    time.sleep(0.2)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
headers = {"Authorization": f"Bearer {token}", "X-Brand-ID": "9",
           "Content-Type": "application/json"}
body = json.dumps({"task_type": "data_export", "description": "cost", "context_data": {"n": 1}})
def toggle(on):
    if collect:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", collect],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
toggle(True)
for _ in range(n):
    c.request("POST", "/tasks/", body=body, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit(f"create answered {r.status}")
toggle(False)
EOF
  # Under strace the node is the tracer's child; under valgrind it is the process itself.
  kill -TERM "$(pgrep -P "$pid" || echo "$pid")"
  wait "$pid" || true
  pid=""
}

instructions() {
  local out="$work/callgrind.$1"
  COLLECTING=1 measure "$1" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out" --trace-children=no -q
  # CALLGRIND_KEEP=DIR keeps the profile, for callgrind_annotate.
  if [ -n "${CALLGRIND_KEEP:-}" ]; then mkdir -p "$CALLGRIND_KEEP" && cp "$out"* "$CALLGRIND_KEEP"/; fi
  # The total of every thread's profile (each file's "summary:" line, else its "totals:").
  for f in "$out"*; do
    awk '/^summary:/ { s = $2 } /^totals:/ { t = $2 } END { printf "%.0f\n", (s ? s : t) }' "$f"
  done | awk '{ n += $1 } END { printf "%.0f\n", n }'
}
syscalls() {
  local out="$work/strace.$1"
  measure "$1" strace -f -c -o "$out"
  # strace -c's table (% time, seconds, usecs/call, calls, [errors,] syscall): "name=calls".
  awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF "=" $4 }' "$out"
}

total="$(instructions "$n")"
# No profile written (valgrind killed before it could dump, say) is a failed run, not a zero.
if [ "${total:-0}" -le 0 ]; then
  echo "cost-per-create: callgrind wrote no profile; run it again" >&2
  exit 1
fi
echo "creates=$n instructions_per_create=$(( total / n ))"

declare -A base
while IFS='=' read -r name calls; do base[$name]=$calls; done < <(syscalls 0)
while IFS='=' read -r name calls; do
  per=$(python3 -c "print(round(($calls - ${base[$name]:-0}) / $n, 2))")
  case "$name" in
    fdatasync|fsync|sync_file_range|write|writev|pwrite64|sendto|recvfrom|read|futex|epoll_wait)
      echo "syscall=$name per_create=$per" ;;
  esac
done < <(syscalls "$n")
