#!/usr/bin/env bash
# `make run`: loads the demo data on the first run, starts `gatehouse serve`,
# and once it serves, SIM_DEVICES simulated devices (0 for none) connected to it.
# If serve stops (its port is taken, it fails, Ctrl-C), the simulator is stopped
# at once and this script exits with serve's status.
#
# Settings (make passes them; the defaults are make's):
#   ADDR           listen address (make: ADDR=…, else $GATEHOUSE_ADDR, else 127.0.0.1:8080)
#   DATA           data directory (make: DATA=…, else $GATEHOUSE_DATA, else ./data)
#   DEMO_PASSWORD  the demo accounts' password
#   SIM_DEVICES    simulated devices (default 500)
# Every other GATEHOUSE_* variable reaches serve as it is (SMTP, Stripe, …).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=./bin/gatehouse
ADDR=${ADDR:-${GATEHOUSE_ADDR:-127.0.0.1:8080}}
DATA=${DATA:-${GATEHOUSE_DATA:-./data}}
DEMO_PASSWORD=${DEMO_PASSWORD:-demo-password}
SIM_DEVICES=${SIM_DEVICES:-500}

"$bin" demo --data "$DATA" --password "$DEMO_PASSWORD" --if-empty || exit 1

# The address to open (and to point the simulator at): a wildcard listen
# address is reached on 127.0.0.1.
host=${ADDR%:*}
port=${ADDR##*:}
case $host in "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;; esac

login() {
  echo
  echo "Open $1/ and log in as demo-subdistributor (or demo-admin, demo-distributor,"
  echo "demo-installer) with the password '$DEMO_PASSWORD'. Stop with Ctrl-C."
  echo
}

if [ "$SIM_DEVICES" = 0 ]; then
  login "http://$host:$port"
  exec "$bin" serve --data "$DATA" --addr "$ADDR"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-run.XXXXXX") || exit 1
serve_pid=
sim_pid=
stop() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  [ -n "$sim_pid" ] && wait "$sim_pid" 2>/dev/null
  [ -n "$serve_pid" ] && wait "$serve_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# serve's stdout is its "serving at" line, printed once it listens; its log
# goes to stderr, straight to the terminal.
"$bin" serve --data "$DATA" --addr "$ADDR" >"$tmp/serve.out" &
serve_pid=$!

# serve_ended: serve has exited; say so, and exit with its status.
serve_ended() {
  wait "$serve_pid"
  local rc=$?
  serve_pid=
  echo "make run: gatehouse serve stopped (exit status $rc)$1" >&2
  [ "$rc" = 0 ] && rc=1 # make run ends when the user stops it (Ctrl-C), not by itself
  exit "$rc"
}

# Wait until this serve listens: it prints its line then (another program
# holding the port would answer /healthz, but cannot print that line).
waited=0
until grep -q "serving at" "$tmp/serve.out"; do
  kill -0 "$serve_pid" 2>/dev/null || serve_ended "; the simulated devices were not started."
  sleep 0.1
  waited=$((waited + 1))
  [ "$waited" = 100 ] && echo "make run: waiting for gatehouse serve to listen on $ADDR …"
done
cat "$tmp/serve.out"
base=$(sed -n 's#.*serving at \(https\?\)://[^/]*/.*#\1#p' "$tmp/serve.out" | head -n 1)://$host:$port
if command -v curl >/dev/null 2>&1 && ! curl -fsS -k -m 5 -o /dev/null "$base/healthz"; then
  echo "make run: $base/healthz does not answer 200; the simulated devices were not started." >&2
  exit 1
fi
login "$base"

"$bin" devicesim --server "$base" --data "$DATA" --count "$SIM_DEVICES" --state "$DATA/devicesim" --report 1m &
sim_pid=$!

# Until serve stops: then stop the devices too. A simulator that stops alone
# leaves the portal running.
while kill -0 "$serve_pid" 2>/dev/null; do
  if [ -n "$sim_pid" ] && ! kill -0 "$sim_pid" 2>/dev/null; then
    wait "$sim_pid"
    echo "make run: the simulated devices stopped (exit status $?); the portal keeps serving. Stop with Ctrl-C." >&2
    sim_pid=
  fi
  sleep 0.5
done
if [ -n "$sim_pid" ]; then
  kill "$sim_pid" 2>/dev/null
  wait "$sim_pid" 2>/dev/null
  sim_pid=
  serve_ended "; stopped the simulated devices."
fi
serve_ended "."
