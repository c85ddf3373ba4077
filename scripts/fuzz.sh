#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on the committed seed corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 10)
# Needs the nightly toolchain and cargo-fuzz (installed here from crates.io when missing). Where
# nightly is missing it says so and exits 0 without fuzzing: the stable property tests of the
# same decoders still run in `cargo test`. A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/; add it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: the nightly toolchain is not installed (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

targets=$(cd fuzz && cargo +nightly fuzz list)
for t in $targets; do
  echo "fuzz: $t for ${seconds}s"
  # A copy of the seeds, so that what the fuzzer adds to its corpus stays out of the repository.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "fuzz/corpus/$t/." "$work/" 2>/dev/null || true
  (cd fuzz && cargo +nightly fuzz run "$t" "$work" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=0)
  rm -rf "$work"
done
echo "fuzz: every target ran ${seconds}s without a crash"
