#!/usr/bin/env bash
# Task Core next to the systems it is measured against, one system at a time, in one sitting:
# etcd (writes and linearizable reads), BullMQ and Celery (no-op jobs end to end), the disk
# (fdatasync rate), then Task Core itself (`cargo bench --bench compare`, release build).
#
# usage: scripts/compare.sh ANCHORS_DIR [OUT]
#
# ANCHORS_DIR holds one folder per anchor (etcd/, bullmq/, celery/, disk/), each with a run.sh
# that prints `key=value` figures; their prerequisites (etcd-server, redis-server, node with
# `npm ci` done in bullmq/, a .venv in celery/, fio) are the anchors' own. A folder that is
# missing, or whose run fails, is reported and skipped; Task Core always runs. Every figure line
# goes to OUT (default target/compare-<time>.txt) and to standard output. Run it on a quiet
# machine: on two cores the systems would measure each other otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
anchors="${1:?usage: scripts/compare.sh ANCHORS_DIR [OUT]}"
anchors="$(cd "$anchors" && pwd)"
out="${2:-$PWD/target/compare-$(date -u +%Y%m%dT%H%M%SZ).txt}"
mkdir -p "$(dirname "$out")"
: > "$out"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for anchor in etcd bullmq celery disk; do
  if [ ! -x "$anchors/$anchor/run.sh" ]; then
    echo "# $anchor: SKIPPED (no $anchors/$anchor/run.sh)" | tee -a "$out"
    continue
  fi
  # The anchors write logs and data next to themselves: run a copy.
  cp -r "$anchors/$anchor" "$scratch/$anchor"
  echo "# $anchor: running" >&2
  # CHECK_PERF=0: etcd's own `etcdctl check perf` after its loads is not part of the comparison.
  if (cd "$scratch/$anchor" && CHECK_PERF=0 ./run.sh) > "$scratch/$anchor.out" 2>"$scratch/$anchor.err"; then
    grep -E '=' "$scratch/$anchor.out" | grep -v '^#' | sed "s/^/anchor=$anchor /" | tee -a "$out"
  else
    echo "# $anchor: FAILED ($(tail -n 1 "$scratch/$anchor.err"))" | tee -a "$out"
  fi
done

cargo build --quiet --release -p taskcore -p taskctl
echo "# taskcore: running" >&2
cargo bench --quiet --bench compare 2>/dev/null | grep '^system=' | tee -a "$out"
echo "# figures in $out" >&2
