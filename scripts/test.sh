#!/usr/bin/env bash
# Lint, format check and the test suite; `make test` calls this after installing the venv.
# Extra pytest arguments come from PYTEST_ARGS (e.g. PYTEST_ARGS='-k credits -x').
# Every step runs even when one before it failed, so one run shows all problems; the exit status
# is non-zero when any failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

[ -x "$VENV/bin/python" ] || die "${VENV#"$PWD"/} is missing: run \`make test\` (it creates the venv)"
export PATH="$VENV/bin:$PATH"
mkdir -p var test-artifacts

scripts/ensure_system_deps.sh
trap 'scripts/ensure_redis.sh --stop' EXIT
scripts/ensure_redis.sh --daemon

eval "pytest_args=(${PYTEST_ARGS:-})"
failed=()
run_step() {
  printf '\n==> %s\n' "$*"
  "$@" || failed+=("$*")
}
run_step ruff check .
run_step ruff format --check .
run_step python -m pytest "${pytest_args[@]}"

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "All checks passed. Browser screenshots, if any: test-artifacts/"
