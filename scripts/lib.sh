# Shared helpers for scripts/*.sh (sourced, not run).

# Print KEY's value from ./.env (the last assignment wins, surrounding quotes removed); nothing
# when there is no .env or no such key. Django reads .env itself (django-environ); the shell
# scripts only need a few values from it (REDIS_URL, PORT) before Django starts.
dotenv_get() {
  [ -f .env ] || return 0
  sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*//p" .env |
    tail -n 1 | sed -E "s/[[:space:]]+$//; s/^(['\"])(.*)\1$/\2/"
}

# The environment wins over .env, which wins over the default given as $2.
setting() {
  local value="${!1:-}"
  [ -n "$value" ] || value=$(dotenv_get "$1")
  printf '%s\n' "${value:-$2}"
}

# The virtualenv: $VENV (as `make` passes it) or .venv, as an absolute path.
VENV=${VENV:-.venv}
case "$VENV" in /*) ;; *) VENV=$PWD/$VENV ;; esac

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }
