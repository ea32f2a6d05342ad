#!/usr/bin/env bash
# quoteflow's two set-up commands on a fresh machine (only Python 3.11 needed):
#   ./dev.sh demo   bring the stack up and play Mike's day end to end
#   ./dev.sh test   run the test suite (it starts and stops its own services)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v uv >/dev/null 2>&1; then
  export PATH="$HOME/.local/bin:$PATH"
  if ! command -v uv >/dev/null 2>&1; then
    echo "installing uv (the project's package manager) with pip..." >&2
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  fi
fi
# With the dev group (the local stack's moto and aiosmtpd, pytest, ruff). Bytecode too: uv
# writes none by default, and where PYTHONDONTWRITEBYTECODE is set every process (each flow
# run, each test's subprocess) would otherwise compile Prefect from source again.
uv sync --frozen --quiet --compile-bytecode

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) exec uv run quoteflow demo "$@" ;;
  test) exec uv run pytest "$@" ;;
  *) echo "usage: ./dev.sh demo [--json] | test [pytest args]" >&2; exit 2 ;;
esac
