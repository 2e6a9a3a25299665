#!/usr/bin/env bash
# Make sure there is a Redis for this checkout.
#
#   scripts/ensure_redis.sh                  check only: exit 0 when REDIS_URL answers PING
#   scripts/ensure_redis.sh --run            for `make run`: print three lines, the REDIS_URL every
#                                            process gets, a foreground `redis-server ...` command
#                                            for honcho or an empty line (honcho's Ctrl-C stops
#                                            it with everything else), and a line for the banner
#   scripts/ensure_redis.sh --procfile-line  print nothing when REDIS_URL answers; otherwise print
#                                            a foreground `redis-server ...` command for honcho
#   scripts/ensure_redis.sh --daemon         start a private daemonized redis-server when needed
#                                            (pidfile var/redis-<port>.pid) and wait until it answers
#   scripts/ensure_redis.sh --stop           stop the server --daemon started, if any
#
# --run with REDIS_URL set (environment, then .env) uses it as --procfile-line does. Without one,
# each checkout gets its own persistent redis-server (--appendonly yes, data in var/redis/, so
# queued jobs survive a restart) on 127.0.0.1 and a port derived from the checkout's path (the
# next free one when taken; remembered in var/redis.port): two checkouts on one machine never
# share a Celery queue. When redis-server is missing and cannot be installed, it falls back to
# the system Redis at 127.0.0.1:6379 with a database number derived from the checkout's path.
#
# The other modes read REDIS_URL from the environment, then .env, then redis://127.0.0.1:6379/0.
# PING goes through the venv's redis-py (redis-cli is not needed). When redis-server is missing
# and we run as root, it is installed with apt-get; otherwise we stop and say what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

mode=${1:---check}
case "$mode" in --check | --run | --procfile-line | --daemon | --stop) ;; *) die "unknown option: $mode" ;; esac

source="the environment"
[ -n "${REDIS_URL:-}" ] || source=.env
PY=${PYTHON:-$VENV/bin/python}
[ -x "$PY" ] || PY=python3
VAR=$PWD/var

parse_url() {
  { read -r scheme; read -r host; read -r port; read -r password; } < <(
    "$PY" - "$1" <<'PYEOF'
import sys
from urllib.parse import unquote, urlsplit

url = urlsplit(sys.argv[1])
print(url.scheme)
print(url.hostname or "127.0.0.1")
print(url.port or 6379)
print(unquote(url.password or ""))
PYEOF
  )
  shown_url=$(printf '%s' "$1" | sed -E 's#://[^@/]*@#://***@#')
  pidfile=$VAR/redis-$port.pid
}

ping_url() {
  if "$PY" -c 'import redis' 2>/dev/null; then
    "$PY" -c 'import sys, redis
sys.exit(0 if redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=2).ping() else 1)' \
      "$1" >/dev/null 2>&1
  elif command -v redis-cli >/dev/null; then
    [ "$(redis-cli -u "$1" ping 2>/dev/null)" = PONG ]
  else
    die "cannot PING $shown_url: neither redis-py ($PY) nor redis-cli is available"
  fi
}
ping() { ping_url "$REDIS_URL"; }

port_taken() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

# Install redis-server with apt-get when missing and we are root; status 1 when it stays missing.
have_redis_server() {
  command -v redis-server >/dev/null && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  log "redis-server is missing: installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq redis-server >&2 || return 1
  command -v redis-server >/dev/null
}

# --run without REDIS_URL: this checkout's own redis-server (or a database of the system one).
private_redis() {
  local seed base dir answer
  seed=$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)
  host=127.0.0.1
  if ! have_redis_server; then
    # Databases 1..13: 0 is everybody's default and 14 is the tests'.
    REDIS_URL=redis://127.0.0.1:6379/$((1 + seed % 13))
    parse_url "$REDIS_URL"
    ping || die "redis-server is not installed (and cannot be installed here) and no Redis answers
  at 127.0.0.1:6379. Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS:
  brew install redis), or start one and set REDIS_URL in .env."
    log "redis-server is not installed: using the system Redis, database ${REDIS_URL##*/} (chosen for this checkout)"
    printf '%s\n\n%s\n' "$REDIS_URL" \
      "Redis: the system Redis at 127.0.0.1:6379, database ${REDIS_URL##*/} for this checkout (redis-server is not installed)"
    return
  fi
  dir=$VAR/redis
  mkdir -p "$dir"
  base=$(cat "$VAR/redis.port" 2>/dev/null || true)
  case "$base" in '' | *[!0-9]*) base=$((20000 + seed % 10000)) ;; esac
  for port in $(seq "$base" $((base + 100))); do
    if ! port_taken; then
      REDIS_URL=redis://127.0.0.1:$port/0
      echo "$port" >"$VAR/redis.port"
      args=(--port "$port" --bind 127.0.0.1 --appendonly yes --dir "$dir" --save '' --loglevel warning)
      printf '%s\n%s\n%s\n' "$REDIS_URL" "$(printf '%q ' redis-server "${args[@]}")" \
        "Redis: private redis-server on 127.0.0.1:$port (data in var/redis/)"
      return
    fi
    # Ours, left running by an earlier run that did not stop it: use it as it is.
    answer=$("$PY" -c 'import sys, redis
r = redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=2, decode_responses=True)
print(r.config_get("dir").get("dir", ""))' "redis://127.0.0.1:$port/0" 2>/dev/null || true)
    if [ "$answer" = "$dir" ]; then
      REDIS_URL=redis://127.0.0.1:$port/0
      echo "$port" >"$VAR/redis.port"
      printf '%s\n\n%s\n' "$REDIS_URL" \
        "Redis: private redis-server on 127.0.0.1:$port (data in var/redis/), left running by an earlier run"
      return
    fi
  done
  die "no free port for a private redis-server in $base..$((base + 100))"
}

if [ "$mode" = --run ] && [ -z "$(setting REDIS_URL '')" ]; then
  private_redis
  exit 0
fi

REDIS_URL=$(setting REDIS_URL redis://127.0.0.1:6379/0)
parse_url "$REDIS_URL"

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
  [ "$mode" = --run ] && printf '%s\n\n%s\n' "$REDIS_URL" "Redis: REDIS_URL from $source ($shown_url)"
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

if ! have_redis_server; then
  die "no Redis answers at $shown_url and redis-server is not installed.
  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)
  or start one yourself and set REDIS_URL (e.g. docker run -d -p 6379:6379 redis:7)."
fi
# Installing may have started the system service; use it if it answers.
if ping; then
  log "Redis answers at $shown_url"
  [ "$mode" = --run ] && printf '%s\n\n%s\n' "$REDIS_URL" "Redis: REDIS_URL from $source ($shown_url)"
  exit 0
fi

bind=127.0.0.1
[ "$host" = ::1 ] && bind=::1
mkdir -p "$VAR/redis"
# Ephemeral on purpose: the database is the truth, the broker only carries messages.
args=(--port "$port" --bind "$bind" --save '' --appendonly no --dir "$VAR/redis" --loglevel warning)
[ -n "$password" ] && args+=(--requirepass "$password")

if [ "$mode" = --procfile-line ] || [ "$mode" = --run ]; then
  log "no Redis at $shown_url: a private redis-server on port $port runs with the other processes"
  [ "$mode" = --run ] && echo "$REDIS_URL"
  printf '%q ' redis-server "${args[@]}"
  echo
  [ "$mode" = --run ] && echo "Redis: REDIS_URL from $source ($shown_url): nothing answered, so a redis-server on port $port runs with the other processes (not persisted)"
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
