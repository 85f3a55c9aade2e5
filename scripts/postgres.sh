#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, on 127.0.0.1 only.
#
#   scripts/postgres.sh install   apt-get install postgresql if no server binaries are found
#   scripts/postgres.sh start     init (first time) and start; creates role+database orderflow; prints the URL
#   scripts/postgres.sh stop      fast shutdown (the data stays for the next start; PG_STOP_MODE)
#   scripts/postgres.sh status    running or not, exit 0 / 1
#   scripts/postgres.sh url       postgres://orderflow:orderflow@127.0.0.1:15432/orderflow?sslmode=disable
#   scripts/postgres.sh psql ...  psql as the superuser over the private socket
#   scripts/postgres.sh destroy   stop and delete the data folder
#   scripts/postgres.sh dir       the state folder in use (see PG_DIR)
#
# Settings (environment):
#   PG_PORT     TCP port on 127.0.0.1 (15432)
#   PG_DIR      state folder (.cache/postgres): data/, postgres.log, the socket; as root,
#               when the postgres user cannot reach it, /var/tmp/orderflow-postgres-<hash>
#   PG_BIN      server binaries (the newest /usr/lib/postgresql/*/bin)
#   PG_TIMEOUT  seconds to wait for readiness (60)
#   PG_DURABLE  1: keep PostgreSQL's durable defaults (fsync, synchronous_commit and
#               full_page_writes on), what a user runs; the default turns them off for tests
#   PG_STOP_MODE  stop's shutdown mode: fast (default), smart, or immediate (a crash:
#               no checkpoint, recovery at the next start; the nemesis's stop-database)
#   PG_STATEMENTS 1: load pg_stat_statements (statement counts for docs/performance.md)
#   PG_SETTINGS more server settings, space-separated name=value (e.g. "commit_delay=1000
#               commit_siblings=2"), for experiments; each is checked before it is used
#
# As root, the server runs as the `postgres` OS user (it refuses root);
# otherwise as the user running the script. Unless PG_DURABLE=1 it is tuned
# for tests, not durability: fsync and synchronous_commit are off. TCP
# logins need the password (scram-sha-256), so a wrong one really fails;
# the superuser only logs in over the unix socket in PG_DIR.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT="${PG_PORT:-15432}"
PG_DIR="${PG_DIR:-$root/.cache/postgres}"
PG_TIMEOUT="${PG_TIMEOUT:-60}"
PG_USER_OS=postgres
DB_NAME=orderflow DB_ROLE=orderflow DB_PASSWORD=orderflow

# As root the server runs as the postgres user, which cannot enter a
# checkout under a folder closed to others (a home folder, a mktemp
# folder). Then the state goes to a folder of its own under /var/tmp,
# named after PG_DIR so that every subcommand finds the same one.
if [ "$(id -u)" = 0 ] && id "$PG_USER_OS" >/dev/null 2>&1; then
  reach="$PG_DIR"
  while [ ! -e "$reach" ]; do reach="$(dirname "$reach")"; done
  if ! runuser -u "$PG_USER_OS" -- test -x "$reach"; then
    PG_DIR="/var/tmp/orderflow-postgres-$(printf %s "$PG_DIR" | sha256sum | cut -c1-12)"
  fi
fi
data="$PG_DIR/data"
logfile="$PG_DIR/postgres.log"

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/postgres" ] || die "PG_BIN=$PG_BIN has no postgres binary"
    echo "$PG_BIN"; return
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/postgres" ] && echo "$d"
}

url() { echo "postgres://$DB_ROLE:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME?sslmode=disable"; }

# as_pg CMD...: run a server tool as the server's OS user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER_OS" -- "$@"; else "$@"; fi
}

cmd_install() {
  if bin="$(find_bin)"; then
    echo "PostgreSQL server binaries: $bin ($("$bin/postgres" --version))"
    return
  fi
  [ "$(id -u)" = 0 ] || die "installing needs root (apt-get)"
  echo "installing Debian's postgresql package..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  bin="$(find_bin)" || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres was found"
  echo "PostgreSQL server binaries: $bin ($("$bin/postgres" --version))"
}

running() {
  local bin; bin="$(find_bin)" || return 1
  [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

psql_super() {
  local bin; bin="$(find_bin)"
  as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "${PSQL_DB:-postgres}" "$@"
}

cmd_start() {
  local bin
  bin="$(find_bin)" || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: run scripts/postgres.sh install (apt-get install -y postgresql)"
  if [ "$(id -u)" = 0 ]; then
    id "$PG_USER_OS" >/dev/null 2>&1 || die "there is no '$PG_USER_OS' OS user to run the server as (Debian's postgresql package creates it)"
  fi
  if running; then
    echo "PostgreSQL already running on 127.0.0.1:$PG_PORT" >&2
    url; return
  fi
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    chown "$PG_USER_OS:" "$PG_DIR"
    as_pg test -w "$PG_DIR" ||
      die "the '$PG_USER_OS' user cannot reach $PG_DIR (a parent folder is closed to it): set PG_DIR to a folder it can reach"
  fi
  local major; major="$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')"
  if [ -f "$data/PG_VERSION" ] && [ "$(cat "$data/PG_VERSION")" != "$major" ]; then
    echo "data folder was made by PostgreSQL $(cat "$data/PG_VERSION"), server is $major: starting afresh" >&2
    rm -rf "$data"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 ||
      { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed (log: $PG_DIR/initdb.log)"; }
  fi
  : >"$logfile"
  if [ "$(id -u)" = 0 ]; then chown "$PG_USER_OS:" "$logfile"; fi
  local t0=$SECONDS
  # One line: pg_ctl pastes these into a shell command.
  local opts="-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR"
  opts+=" -c max_connections=300 -c shared_buffers=128MB -c log_min_messages=warning"
  if [ "${PG_DURABLE:-0}" != 1 ]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  local setting
  for setting in ${PG_SETTINGS:-}; do
    # pg_ctl pastes opts into a shell command: a name and a plain value only.
    [[ "$setting" =~ ^[a-z_.]+=[A-Za-z0-9_.]+$ ]] || die "PG_SETTINGS: $setting: want name=value (letters, digits, _ and . only)"
    opts+=" -c $setting"
  done
  if [ "${PG_STATEMENTS:-0}" = 1 ]; then
    opts+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
  fi
  as_pg "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t "$PG_TIMEOUT" -s \
    -o "$opts" \
    start || { tail -n 30 "$logfile" >&2; die "the server did not start (log: $logfile)"; }
  local deadline=$((SECONDS + PG_TIMEOUT))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$logfile" >&2
      die "not ready on 127.0.0.1:$PG_PORT after ${PG_TIMEOUT}s (log: $logfile)"
    fi
    sleep 0.2
  done
  psql_super <<SQL
SELECT 'CREATE ROLE $DB_ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_ROLE') \gexec
ALTER ROLE $DB_ROLE LOGIN PASSWORD '$DB_PASSWORD';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
SQL
  if [ "${PG_STATEMENTS:-0}" = 1 ]; then
    PSQL_DB="$DB_NAME" psql_super -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' -c "GRANT pg_read_all_stats TO $DB_ROLE"
  fi
  echo "PostgreSQL $major ready on 127.0.0.1:$PG_PORT in $((SECONDS - t0))s (data $data, log $logfile)" >&2
  url
}

cmd_stop() {
  local bin; bin="$(find_bin)" || { echo "PostgreSQL not installed: nothing to stop" >&2; return 0; }
  if ! running; then
    echo "PostgreSQL not running" >&2
    return 0
  fi
  local mode="${PG_STOP_MODE:-fast}"
  case "$mode" in fast|smart|immediate) ;; *) die "PG_STOP_MODE=$mode: want fast, smart or immediate" ;; esac
  as_pg "$bin/pg_ctl" -D "$data" -m "$mode" -w -t 60 -s stop
  echo "PostgreSQL stopped ($mode)" >&2
}

cmd_status() {
  if running; then
    echo "PostgreSQL running on 127.0.0.1:$PG_PORT (pid $(head -n 1 "$data/postmaster.pid"), data $data)"
  else
    echo "PostgreSQL not running"
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) url ;;
  dir) echo "$PG_DIR" ;;
  psql) shift; psql_super "$@" ;;
  destroy) cmd_stop; rm -rf "$data"; echo "deleted $data" >&2 ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
