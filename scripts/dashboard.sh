#!/usr/bin/env bash
# The dashboard's checks: the unit tests of its logic (node --test), then the dashboard driven
# in headless Chromium against a --dev node (tests/browser, playwright-core from its lockfile,
# Debian's chromium). Without Node.js it says so and skips; the browser test skips without
# Chromium unless TASKCORE_REQUIRE_BROWSER=1. Screenshots: target/browser-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "dashboard: SKIPPED (node and npm are not installed)"
  exit 0
fi
node --test crates/taskcore-api/ui/
cargo build --quiet -p taskcore -p taskctl
npm ci --prefix tests/browser --no-audit --no-fund --silent
node --test --test-concurrency=1 tests/browser/
