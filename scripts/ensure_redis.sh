#!/usr/bin/env bash
# Make sure the Redis at REDIS_URL answers, starting a private one under var/ when it does not.
#
#   scripts/ensure_redis.sh                  check only: exit 0 when REDIS_URL answers PING
#   scripts/ensure_redis.sh --procfile-line  print nothing when REDIS_URL answers; otherwise print
#                                            a foreground `redis-server ...` command for honcho
#                                            (so Ctrl-C stops it with everything else)
#   scripts/ensure_redis.sh --daemon         start a private daemonized redis-server when needed
#                                            (pidfile var/redis-<port>.pid) and wait until it answers
#   scripts/ensure_redis.sh --stop           stop the server --daemon started, if any
#
# REDIS_URL comes from the environment, then .env, then redis://127.0.0.1:6379/0. PING goes
# through the venv's redis-py (redis-cli is not needed). When redis-server is missing and we run
# as root, it is installed with apt-get; otherwise we stop and say what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

mode=${1:---check}
case "$mode" in --check | --procfile-line | --daemon | --stop) ;; *) die "unknown option: $mode" ;; esac

REDIS_URL=$(setting REDIS_URL redis://127.0.0.1:6379/0)
PY=${PYTHON:-$VENV/bin/python}
[ -x "$PY" ] || PY=python3
VAR=$PWD/var

{ read -r scheme; read -r host; read -r port; read -r password; } < <(
  "$PY" - "$REDIS_URL" <<'PYEOF'
import sys
from urllib.parse import unquote, urlsplit

url = urlsplit(sys.argv[1])
print(url.scheme)
print(url.hostname or "127.0.0.1")
print(url.port or 6379)
print(unquote(url.password or ""))
PYEOF
)
shown_url=$(printf '%s' "$REDIS_URL" | sed -E 's#://[^@/]*@#://***@#')
pidfile=$VAR/redis-$port.pid

ping() {
  if "$PY" -c 'import redis' 2>/dev/null; then
    "$PY" -c 'import sys, redis
sys.exit(0 if redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=2).ping() else 1)' \
      "$REDIS_URL" >/dev/null 2>&1
  elif command -v redis-cli >/dev/null; then
    [ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = PONG ]
  else
    die "cannot PING $shown_url: neither redis-py ($PY) nor redis-cli is available"
  fi
}

port_taken() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if [ "$mode" = --stop ]; then
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped the private Redis on port $port (pid $pid)"
  fi
  rm -f "$pidfile"
  exit 0
fi

if ping; then
  log "Redis answers at $shown_url"
  exit 0
fi
[ "$mode" = --check ] && die "no Redis answers at $shown_url"

# Nothing answers: a private server only makes sense for a plain redis:// URL on this machine.
case "$host" in
  127.0.0.1 | localhost | ::1 | 0.0.0.0) ;;
  *) die "no Redis answers at $shown_url (a remote host): start it there, or point REDIS_URL elsewhere" ;;
esac
[ "$scheme" = redis ] || die "no Redis answers at $shown_url; a private server is only started for redis:// URLs"
if port_taken; then
  die "something listens on $host:$port but does not answer Redis PING (wrong password in REDIS_URL?)"
fi

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "redis-server is missing: installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq redis-server >&2
    # Installing may have started the system service; use it if it answers.
    if ping; then
      log "Redis answers at $shown_url"
      exit 0
    fi
  else
    die "no Redis answers at $shown_url and redis-server is not installed.
  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)
  or start one yourself and set REDIS_URL (e.g. docker run -d -p 6379:6379 redis:7)."
  fi
fi

bind=127.0.0.1
[ "$host" = ::1 ] && bind=::1
mkdir -p "$VAR/redis"
# Ephemeral on purpose: the database is the truth, the broker only carries messages.
args=(--port "$port" --bind "$bind" --save '' --appendonly no --dir "$VAR/redis" --loglevel warning)
[ -n "$password" ] && args+=(--requirepass "$password")

if [ "$mode" = --procfile-line ]; then
  log "no Redis at $shown_url: a private redis-server on port $port runs with the other processes"
  printf '%q ' redis-server "${args[@]}"
  echo
  exit 0
fi

# --daemon
redis-server "${args[@]}" --daemonize yes --pidfile "$pidfile" --logfile "$VAR/redis-$port.log"
for _ in $(seq 100); do
  if ping; then
    log "started a private Redis on port $port (pidfile var/redis-$port.pid)"
    exit 0
  fi
  sleep 0.1
done
die "the private redis-server on port $port did not answer; see var/redis-$port.log"
