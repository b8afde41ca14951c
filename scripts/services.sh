#!/usr/bin/env bash
# Make PostgreSQL and Redis available for development and tests, without Docker.
#
#   scripts/services.sh start   # idempotent: reuse what this checkout started, start the rest
#   scripts/services.sh stop    # stop only what this checkout started
#
# When DATABASE_URL / REDIS_URL are set they are used as they are (managed services, CI
# sidecars). Otherwise a project-local PostgreSQL cluster and Redis run on ports 55432 and
# 56379 (LOCAL_POSTGRES_PORT, LOCAL_REDIS_PORT), with their data under .local/. A server is
# this checkout's by its data folder and pid file, never by its port: a server that another
# checkout or the system runs on the port is neither reused nor stopped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
PG_PORT=${LOCAL_POSTGRES_PORT:-55432}
REDIS_PORT=${LOCAL_REDIS_PORT:-56379}
PG_ROLE=importer
PG_DATABASE=importer

SCRIPT_NAME=services
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

port_taken() {
  die "$1: port $2 is taken by a server this checkout did not start (another checkout or a" \
    "system service). Set $3 to a free port, or $4 to use a server you already run."
}

url_answers() {
  # 0 when the PostgreSQL (postgres://) or Redis (redis://) server behind the URL answers.
  "$ROOT/.venv/bin/python" - "$1" <<'PY'
import sys
url = sys.argv[1]
try:
    if url.startswith("redis"):
        import redis
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    else:
        import dj_database_url, psycopg
        cfg = dj_database_url.parse(url)
        psycopg.connect(dbname=cfg["NAME"], user=cfg["USER"], password=cfg["PASSWORD"],
                        host=cfg["HOST"], port=cfg["PORT"] or 5432, connect_timeout=2).close()
except Exception as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
PY
}

wait_until() {
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not answer within 30 s"
}

# PostgreSQL --------------------------------------------------------------------------

# PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user.
postgres_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un
  elif id postgres >/dev/null 2>&1; then echo postgres
  else echo nobody
  fi
}

as_postgres_user() {
  # From /, which that user can always enter (the checkout may be in a private home).
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u "$(postgres_user)" -- "$@"); else "$@"; fi
}

postgres_datadir() {
  # The cluster lives in .local/ unless its owner cannot reach that folder (a checkout under
  # a private home directory); then it lives in /var/tmp, named after this checkout.
  if as_postgres_user test -x "$ROOT" 2>/dev/null; then
    echo "$LOCAL/postgres"
  else
    echo "/var/tmp/product-importer-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/postgres"
  fi
}

start_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    url_answers "$DATABASE_URL" || die "DATABASE_URL is set but its server does not answer."
    say "PostgreSQL: using DATABASE_URL"
    return
  fi
  local bindir datadir url running_port
  url="postgres://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DATABASE"
  bindir=$(postgres_bindir)
  [ -n "$bindir" ] || die "PostgreSQL is not installed: run scripts/packages.sh run."
  datadir=$(postgres_datadir)
  mkdir -p "$(dirname "$datadir")"
  if [ ! -f "$datadir/PG_VERSION" ]; then
    say "PostgreSQL: creating a cluster in $datadir"
    mkdir -p "$datadir"
    if [ "$(id -u)" -eq 0 ]; then chown "$(postgres_user)" "$datadir"; fi
    # Trust on loopback only: a development cluster that nobody else can reach.
    as_postgres_user "$bindir/initdb" -D "$datadir" -U "$PG_ROLE" --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  running_port=""
  if as_postgres_user "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    running_port=$(sed -n 4p "$datadir/postmaster.pid")
  fi
  if [ "$running_port" != "$PG_PORT" ]; then
    if port_in_use "$PG_PORT"; then port_taken PostgreSQL "$PG_PORT" LOCAL_POSTGRES_PORT DATABASE_URL; fi
    if [ -n "$running_port" ]; then
      say "PostgreSQL: this checkout's cluster runs on port $running_port; moving it to $PG_PORT"
      as_postgres_user "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null
    fi
    say "PostgreSQL: starting on 127.0.0.1:$PG_PORT"
    as_postgres_user "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $datadir -c listen_addresses=127.0.0.1" start >/dev/null \
      || die "PostgreSQL did not start; see $datadir/server.log"
  fi
  wait_until "PostgreSQL" "$bindir/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
  if ! "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | grep -q 1; then
    "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" "$PG_DATABASE"
  fi
  say "PostgreSQL: ready at $url"
}

stop_postgres() {
  local bindir datadir
  bindir=$(postgres_bindir)
  datadir=$(postgres_datadir)
  if [ -n "$bindir" ] && as_postgres_user "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    as_postgres_user "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null
    say "PostgreSQL: stopped this checkout's cluster ($datadir)"
  else
    say "PostgreSQL: this checkout's cluster is not running"
  fi
}

# Redis -------------------------------------------------------------------------------

redis_pid() {
  # The pid of the Redis this checkout started, while it runs; nothing otherwise.
  local pid
  pid=$(cat "$LOCAL/redis/redis.pid" 2>/dev/null) || return 0
  if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q '^redis-server'; then
    echo "$pid"
  fi
}

stop_redis_pid() {
  local pid=$1
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  rm -f "$LOCAL/redis/redis.pid"
}

start_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    url_answers "$REDIS_URL" || die "REDIS_URL is set but its server does not answer."
    say "Redis: using REDIS_URL"
    return
  fi
  local pid
  mkdir -p "$LOCAL/redis"
  pid=$(redis_pid)
  if [ -z "$pid" ] || ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q ":$REDIS_PORT\b"; then
    if port_in_use "$REDIS_PORT"; then port_taken Redis "$REDIS_PORT" LOCAL_REDIS_PORT REDIS_URL; fi
    if [ -n "$pid" ]; then
      say "Redis: this checkout's server runs on another port; moving it to $REDIS_PORT"
      stop_redis_pid "$pid"
    fi
    say "Redis: starting on 127.0.0.1:$REDIS_PORT"
    # A broker and a cache: nothing in it must survive a restart, so no snapshots.
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
      --dir "$LOCAL/redis" --pidfile "$LOCAL/redis/redis.pid" \
      --logfile "$LOCAL/redis/redis.log" --save "" --appendonly no >/dev/null
  fi
  wait_until "Redis" redis-cli -p "$REDIS_PORT" ping
  say "Redis: ready at redis://127.0.0.1:$REDIS_PORT/0"
}

stop_redis() {
  local pid
  pid=$(redis_pid)
  if [ -n "$pid" ]; then
    stop_redis_pid "$pid"
    say "Redis: stopped this checkout's server (pid $pid)"
  else
    say "Redis: this checkout's server is not running"
  fi
}

case "${1:-start}" in
  start) start_postgres; start_redis ;;
  stop) stop_postgres; stop_redis ;;
  *) die "usage: $0 start|stop" ;;
esac
