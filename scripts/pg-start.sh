#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the tests and prints the DSN to
# use as GATEHOUSE_TEST_POSTGRES. Usage: scripts/pg-start.sh DIR [PORT]
# Stop it with: scripts/pg-stop.sh DIR
# The binaries: $PG_BIN, else /usr/lib/postgresql/15/bin (PostgreSQL 15, what CI
# has). Run as root, the cluster runs as the postgres user (initdb refuses root).
set -euo pipefail
dir=${1:?usage: pg-start.sh DIR [PORT]}
port=${2:-55432}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed at $bin (set PG_BIN to its bin directory)" >&2; exit 1; }
mkdir -p "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
if [ ! -f "$dir/PG_VERSION" ]; then
  as_pg "$bin/initdb -D '$dir' --auth=trust -U postgres -E UTF8 >/dev/null"
fi
if ! as_pg "$bin/pg_ctl -D '$dir' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300\" start >/dev/null"; then
  echo "PostgreSQL did not start on port $port; $dir/server.log says:" >&2
  tail -n 5 "$dir/server.log" >&2 || true
  exit 1
fi
as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -qtAc \"SELECT 1 FROM pg_database WHERE datname='gatehouse_test'\" | grep -q 1 || $bin/createdb -h 127.0.0.1 -p $port -U postgres gatehouse_test"
echo "postgres://postgres@127.0.0.1:$port/gatehouse_test?sslmode=disable"
