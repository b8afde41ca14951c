#!/usr/bin/env bash
# Make PostgreSQL and Redis available for development and tests, without Docker.
#
#   scripts/services.sh start   # idempotent: reuse what answers, start what does not
#   scripts/services.sh stop    # stop only what this script started
#
# When DATABASE_URL / REDIS_URL are set they are used as they are (managed services, CI
# sidecars). Otherwise a project-local PostgreSQL cluster and Redis run on ports 55432 and
# 56379, with their data under .local/, so they never clash with a system installation.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
PG_PORT=${LOCAL_POSTGRES_PORT:-55432}
REDIS_PORT=${LOCAL_REDIS_PORT:-56379}
PG_ROLE=importer
PG_DATABASE=importer

SCRIPT_NAME=services
APT_HINT="or run 'docker compose up postgres redis' and set DATABASE_URL and REDIS_URL"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

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

postgres_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v pg_config >/dev/null; then dir=$(pg_config --bindir); fi
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

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
  local bindir datadir url
  url="postgres://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DATABASE"
  bindir=$(postgres_bindir)
  if [ -z "$bindir" ]; then
    apt_install postgresql
    bindir=$(postgres_bindir)
  fi
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
  if ! as_postgres_user "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
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
  if [ -n "$bindir" ] && [ -f "$datadir/PG_VERSION" ]; then
    as_postgres_user "$bindir/pg_ctl" -D "$datadir" -m fast stop >/dev/null 2>&1 \
      && say "PostgreSQL: stopped" || true
  fi
}

# Redis -------------------------------------------------------------------------------

start_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    url_answers "$REDIS_URL" || die "REDIS_URL is set but its server does not answer."
    say "Redis: using REDIS_URL"
    return
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$LOCAL/redis"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
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
  if [ -f "$LOCAL/redis/redis.pid" ] && command -v redis-cli >/dev/null; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && say "Redis: stopped" || true
    rm -f "$LOCAL/redis/redis.pid"
  fi
}

case "${1:-start}" in
  start) start_postgres; start_redis ;;
  stop) stop_postgres; stop_redis ;;
  *) die "usage: $0 start|stop" ;;
esac
