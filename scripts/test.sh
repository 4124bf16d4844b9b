#!/usr/bin/env bash
# Run the checks: lint (ruff), types (mypy), architecture (import-linter) and the tests (pytest), with no network.
#   scripts/test.sh               everything: all three test tiers (unit, integration, e2e)
#   scripts/test.sh unit          the fast loop: lint, types, architecture and the unit tier (under a minute)
#   scripts/test.sh integration   (or e2e) one tier
# Further arguments go to pytest, e.g. scripts/test.sh unit -k drafting -x
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  echo "No .venv here: run scripts/setup.sh first." >&2
  exit 1
fi
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

tier=()
case "${1:-}" in
  unit|integration|e2e) tier=("tests/$1"); shift ;;
esac

echo "==> ruff"
ruff check .
echo "==> mypy"
# mypy reads daemon/, ipc/ and tray/ under their installed names (hushnote.daemon, …) through symlinks
mkdir -p .typecheck/hushnote
for d in daemon ipc tray; do ln -sfn "../../$d" ".typecheck/hushnote/$d"; done
mypy
echo "==> import-linter (the rooms' layers)"
lint-imports --no-cache
echo "==> pytest ${tier[*]:-(all tiers)}"
# Tests run in a network namespace with only loopback: nothing can leave, even if the code were wrong.
if unshare -n true 2>/dev/null; then
  unshare -n -- sh -c 'ip link set lo up && exec python -m pytest "$@"' pytest -ra "${tier[@]}" "$@"
else
  echo "(unshare -n is not available to this user: running with the network present)" >&2
  python -m pytest -ra "${tier[@]}" "$@"
fi
