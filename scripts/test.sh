#!/usr/bin/env bash
# Run every check: lint (ruff), types (mypy), and the whole test suite (pytest) with no network.
# Extra arguments go to pytest, e.g. scripts/test.sh -k drafting -x
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  echo "No .venv here: run scripts/setup.sh first." >&2
  exit 1
fi
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

echo "==> ruff"
ruff check .
echo "==> mypy"
mypy
echo "==> pytest"
# Tests run in a network namespace with only loopback: nothing can leave, even if the code were wrong.
if unshare -n true 2>/dev/null; then
  unshare -n -- sh -c 'ip link set lo up && exec python -m pytest "$@"' pytest -ra "$@"
else
  echo "(unshare -n is not available to this user: running with the network present)" >&2
  python -m pytest -ra "$@"
fi
