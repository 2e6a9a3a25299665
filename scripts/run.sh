#!/usr/bin/env bash
# Start the whole platform on this machine in the foreground: web (WEB_CONCURRENCY daphne
# processes, one per core by default), worker and beat, and this checkout's own redis-server
# (unless REDIS_URL is set), all under honcho; Ctrl-C stops them all and ends with "stopped"
# (exit status 0). `make run` calls this after installing the venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

[ -x "$VENV/bin/python" ] || die "${VENV#"$PWD"/} is missing: run \`make run\` (it creates the venv)"
export PATH="$VENV/bin:$PATH"
PORT=$(setting PORT 8000)
export PORT
# Web processes (config/webserver.py): WEB_CONCURRENCY, else one per core.
WEB_CONCURRENCY=$(setting WEB_CONCURRENCY "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)")
export WEB_CONCURRENCY
mkdir -p var

# Three lines: the REDIS_URL for every process, a redis-server command for honcho (or nothing),
# and what the banner says about it.
{ read -r REDIS_URL; read -r redis_cmd; read -r redis_note; } < <(scripts/ensure_redis.sh --run)
[ -n "$REDIS_URL" ] || die "no Redis (see above)"
export REDIS_URL

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0
python manage.py ensure_demo_user

procfile=Procfile
if [ -n "$redis_cmd" ]; then
  # Last in the list: honcho hands each process type PORT + 100 * position, so web keeps PORT.
  procfile=var/Procfile.run
  { cat Procfile; echo "redis: $redis_cmd"; } >"$procfile"
fi

engines="procedural (CPU)"
if python -c 'import torch, diffusers' 2>/dev/null; then
  engines="procedural, and diffusers where a model is configured (GENERATION_ENGINE, SVD_MODEL, ZEROSCOPE_MODEL)"
fi

cat <<BANNER

  AI Lounge is running at http://127.0.0.1:$PORT/ — sign in as demo / demo (or sign up)
  API docs: http://127.0.0.1:$PORT/api/docs/
  Web: $WEB_CONCURRENCY daphne process(es) on one port (WEB_CONCURRENCY)
  $redis_note
  Engines: $engines
  Press Ctrl-C to stop everything.

BANNER

# Ctrl-C (SIGINT to the whole process group) reaches honcho, which stops every process; this
# script waits for it and ends with one line and status 0, so make says no "Error 130". A SIGTERM
# sent to this script alone is passed on to honcho.
interrupted=
trap 'interrupted=1' INT
trap 'interrupted=1; kill -TERM "$honcho" 2>/dev/null || true' TERM
# -e /dev/null: Django reads .env itself; PORT is passed explicitly so the environment wins over .env.
honcho start -f "$procfile" -e /dev/null -p "$PORT" &
honcho=$!
while :; do
  status=0
  wait "$honcho" || status=$?
  kill -0 "$honcho" 2>/dev/null || break
done
if [ -n "$interrupted" ] || [ "$status" = 130 ] || [ "$status" = 143 ]; then
  echo "AI Lounge stopped."
  exit 0
fi
exit "$status"
