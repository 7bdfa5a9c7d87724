#!/usr/bin/env bash
# Stops the cluster started by scripts/pg-start.sh DIR (same PG_BIN).
set -euo pipefail
dir=${1:?usage: pg-stop.sh DIR}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -f "$dir/postmaster.pid" ] || exit 0
if [ "$(id -u)" = 0 ]; then
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir' -m fast -w stop" >/dev/null 2>&1 || true
else
  "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
fi
