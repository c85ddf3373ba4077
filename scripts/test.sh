#!/usr/bin/env bash
# The whole test suite: every Rust test (unit, property, router, in-process cluster, end to end
# with real processes), the Python package (ruff, mypy, pytest against real nodes), the
# dashboard (its logic's unit tests, then headless Chromium against a --dev node), every fuzz
# target for a bounded time on its seed corpus, and schemathesis against a --dev node. Each tool
# that is missing is said so and skipped.
#   FUZZ_SECONDS (default 10 per target), SCHEMATHESIS_SECONDS (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
scripts/python.sh
scripts/dashboard.sh
scripts/packaging.sh
scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
scripts/schemathesis.sh "${SCHEMATHESIS_SECONDS:-120}"
