#!/usr/bin/env bash
# Start the whole platform on this machine in the foreground: web (daphne), worker and beat
# (and a private Redis when none answers at REDIS_URL), all under honcho; Ctrl-C stops them all.
# `make run` calls this after installing the venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

[ -x "$VENV/bin/python" ] || die "${VENV#"$PWD"/} is missing: run \`make run\` (it creates the venv)"
export PATH="$VENV/bin:$PATH"
PORT=$(setting PORT 8000)
export PORT
mkdir -p var

redis_cmd=$(scripts/ensure_redis.sh --procfile-line)

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0
python manage.py ensure_demo_user

procfile=Procfile
if [ -n "$redis_cmd" ]; then
  # Last in the list: honcho hands each process type PORT + 100 * position, so web keeps PORT.
  procfile=var/Procfile.run
  { cat Procfile; echo "redis: $redis_cmd"; } >"$procfile"
fi

cat <<BANNER

  AI Lounge is running at http://127.0.0.1:$PORT/ — sign in as demo / demo (or sign up)
  API docs: http://127.0.0.1:$PORT/api/docs/
  Press Ctrl-C to stop everything.

BANNER

# -e /dev/null: Django reads .env itself; PORT is passed explicitly so the environment wins over .env.
exec honcho start -f "$procfile" -e /dev/null -p "$PORT"
