#!/usr/bin/env bash
# Connections benchmark: how many devices one node holds, and what each costs.
#
#   scripts/bench-connections.sh [N]        # N devices, default 100000 (or $GATEHOUSE_BENCH_CONNS)
#
# It builds gatehouse, loads `gatehouse demo --devices N` into a fresh SQLite
# data directory, starts `gatehouse serve` on it, measures the server, then
# starts `gatehouse devicesim --count N --data … --source-addrs auto` in a
# second process and waits until every device is online. It reports:
#   - time from starting the simulator to all N online,
#   - server RSS (/proc/PID/status VmRSS) and Go heap in use
#     (/metrics go_memstats_heap_inuse_bytes, the lowest of SAMPLE_SECONDS
#     samples, i.e. close to after a GC) before and after, per connection,
#   - server goroutines per connection, and the simulator's own RSS.
# Then it restarts the server on the same address and reports how long until
# every device is back online (RESTART=0 skips that).
# Environment: SETTLE_SECONDS (wait after all online, default 35: one heartbeat
# round), SAMPLE_SECONDS (default 15), KEEP=1 keeps the data directory,
# GATEHOUSE_BIN uses that binary instead of building one.
set -euo pipefail

N=${1:-${GATEHOUSE_BENCH_CONNS:-100000}}
SETTLE_SECONDS=${SETTLE_SECONDS:-35}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-conns.XXXXXX")
DATA=$WORK/data
SERVER_PID= SIM_PID=

cleanup() {
	[ -n "$SIM_PID" ] && kill -INT "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
	[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
	if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Every connection is a file descriptor in the server and one in the
# simulator (each its own process): raise the limit. Raising the hard limit
# needs CAP_SYS_RESOURCE (root outside a container); up to it, anyone may.
want=$((N + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
	if ! ulimit -Hn "$want" 2>/dev/null; then
		echo "$N connections need $want file descriptors per process, but the hard limit (ulimit -Hn) is $hard" >&2
		echo "and cannot be raised here (no CAP_SYS_RESOURCE): at most about $((hard - 1000)) connections on this machine." >&2
		exit 1
	fi
fi
ulimit -n "$want"
echo "== $N connections; ulimit -n $(ulimit -n); $(nproc) cores; $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"

BIN=${GATEHOUSE_BIN:-$WORK/gatehouse}
if [ -z "${GATEHOUSE_BIN:-}" ]; then
	(cd "$ROOT" && go build -o "$BIN" ./cmd/gatehouse)
fi

echo "== demo data: $N devices"
t0=$(date +%s.%N)
"$BIN" demo --data "$DATA" --password bench-password --devices "$N" --users 1000 >/dev/null
echo "   loaded in $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s"

"$BIN" serve --data "$DATA" --addr 127.0.0.1:0 --log-level warn >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
URL=
for _ in $(seq 1 200); do
	URL=$(sed -n 's|.*serving at \(http://[0-9.:]*\)/.*|\1|p' "$WORK/serve.out")
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || { echo "server did not start:"; cat "$WORK/serve.err"; exit 1; }
echo "== server $URL (pid $SERVER_PID)"

cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
metric() { curl -fsS "$URL/metrics" | awk -v m="$1" '$1 == m {printf "%.0f\n", $2}'; }
# lowest heap-in-use over SAMPLE_SECONDS one-second samples
min_heap() {
	local lo= v
	for _ in $(seq 1 "$SAMPLE_SECONDS"); do
		v=$(metric go_memstats_heap_inuse_bytes)
		if [ -z "$lo" ] || [ "$v" -lt "$lo" ]; then lo=$v; fi
		sleep 1
	done
	echo "$lo"
}

sleep 2
RSS0=$(rss_kib "$SERVER_PID")
HEAP0=$(min_heap)
GOR0=$(metric go_goroutines)
echo "   idle: RSS $((RSS0 / 1024)) MiB, heap in use $((HEAP0 / 1048576)) MiB, $GOR0 goroutines"

echo "== devicesim --count $N --source-addrs auto"
CPU0=$(cpu_s "$SERVER_PID")
t0=$(date +%s.%N)
"$BIN" devicesim --server "$URL" --count "$N" --data "$DATA" --state "$WORK/sim-state" \
	--source-addrs auto --report 1s >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
last=
while ! grep -q "all $N devices online" "$WORK/sim.out"; do
	if ! kill -0 "$SIM_PID" 2>/dev/null; then echo "devicesim exited:"; tail "$WORK/sim.err"; exit 1; fi
	line=$(tail -n 1 "$WORK/sim.out")
	if [ "$line" != "$last" ] && [ "$(($(date +%s) % 5))" = 0 ]; then echo "   $line"; last=$line; fi
	sleep 0.5
done
CONNECT=$(grep -o "all $N devices online after [^ ]*" "$WORK/sim.out" | awk '{print $NF}')
echo "   all $N online after $CONNECT (wall clock $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s)"
CPU1=$(cpu_s "$SERVER_PID")
echo "   CPU so far: server $CPU1 s, simulator $(cpu_s "$SIM_PID") s"

echo "== settling ${SETTLE_SECONDS}s (heartbeats), then sampling ${SAMPLE_SECONDS}s"
sleep "$SETTLE_SECONDS"
RSS1=$(rss_kib "$SERVER_PID")
HEAP1=$(min_heap)
GOR1=$(metric go_goroutines)
SIMRSS=$(rss_kib "$SIM_PID")
STILL=$(tail -n 1 "$WORK/sim.out")

per() { echo "scale=1; ($2 - $1) / $N" | bc; }
cat <<EOF
== result: $N connections on one node ($(nproc) cores)
   connect time (simulator start to all online): $CONNECT
   server CPU while connecting: $(echo "$CPU1 - $CPU0" | bc) s = $(echo "scale=3; ($CPU1 - $CPU0) * 1000 / $N" | bc) ms per connect
   server RSS:   $((RSS0 / 1024)) MiB -> $((RSS1 / 1024)) MiB   = $(per "$RSS0" "$RSS1") KiB per connection
   server heap:  $((HEAP0 / 1048576)) MiB -> $((HEAP1 / 1048576)) MiB   = $(echo "scale=1; ($HEAP1 - $HEAP0) / 1024 / $N" | bc) KiB per connection (heap in use, lowest sample)
   goroutines:   $GOR0 -> $GOR1   = $(echo "scale=2; ($GOR1 - $GOR0) / $N" | bc) per connection
   simulator RSS: $((SIMRSS / 1024)) MiB = $(echo "scale=1; $SIMRSS / $N" | bc) KiB per device
   CPU while settled ${SETTLE_SECONDS}s+: server $(cpu_s "$SERVER_PID") s, simulator $(cpu_s "$SIM_PID") s in total
   simulator now: $STILL
EOF

# A node restart: every device loses its connection and comes back (with
# the protocol's back-off and jitter) to the same address. RESTART=0 skips.
if [ "${RESTART:-1}" = 1 ]; then
	echo "== restart: the server stops (SIGTERM) and starts again on the same address"
	lines=$(wc -l <"$WORK/sim.out")
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	t0=$(date +%s.%N)
	"$BIN" serve --data "$DATA" --addr "${URL#http://}" --log-level warn >"$WORK/serve2.out" 2>"$WORK/serve2.err" &
	SERVER_PID=$!
	# Until the simulator saw the drop, then until all are back.
	seen_drop=
	while :; do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "server did not restart:"; tail "$WORK/serve2.err"; exit 1; fi
		last_line=$(tail -n +"$((lines + 1))" "$WORK/sim.out" | tail -n 1)
		case "$last_line" in
		*"online $N/$N"*) [ -n "$seen_drop" ] && break ;;
		*online*) seen_drop=1 ;;
		esac
		sleep 0.5
	done
	echo "   all $N online again $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s after the restart began (the simulator reports every 1 s)"
fi
