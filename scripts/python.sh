#!/usr/bin/env bash
# The Python package's checks: installs ./clients/python[test] into a virtual environment
# (PY_VENV, default target/py-venv; FRESH_VENV=1 rebuilds it), then ruff, mypy --strict and the
# pytest suites, which start real nodes from this repository's target/debug binaries.
# Without python3 (and its venv module) it says so and skips.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PY_VENV:-target/py-venv}"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python: SKIPPED (python3 with venv and ensurepip is not installed)"
  exit 0
fi
if [ "${FRESH_VENV:-0}" = 1 ]; then
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "./clients/python[test]"
cargo build --quiet -p taskcore -p taskctl
cd clients/python
"../../$venv/bin/ruff" check .
"../../$venv/bin/ruff" format --check .
"../../$venv/bin/mypy"
TASKCORE_BIN_DIR="$PWD/../../target/debug" "../../$venv/bin/pytest" -q -p no:cacheprovider tests
