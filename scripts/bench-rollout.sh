#!/usr/bin/env bash
# Firmware rollout benchmark (issue 15): one firmware put on N simulated
# devices through the whole product — image stored by the admin, a rollout
# made and started through the API, devices downloading through the real
# HTTP path, verifying, rebooting and coming back with the new version.
#
#   scripts/bench-rollout.sh [N]          # N devices, default 10000
#
# It loads `gatehouse demo --devices N` into a fresh SQLite data directory,
# stores an image of IMAGE_KIB KiB (default 512) for the simulator's model
# with `gatehouse admin add-firmware --file`, starts `gatehouse serve`
# (scheduler step ROLLOUT_EVERY, default 1s) and `gatehouse devicesim --count N`,
# waits until every device is online, then as the admin creates a rollout to
# every device of the model (canary CANARY devices, then waves of WAVE_PERCENT %,
# failure threshold 10 %, window 00:00–24:00) and starts it. It reports the time
# from start to all done, the server's CPU, its RSS before and at its peak, and
# the final counts per state. KEEP=1 keeps the data directory; GATEHOUSE_BIN
# uses that binary instead of building one.
#
# The download throughput against nginx serving the same file is
# scripts/bench-firmware-download.sh.
set -euo pipefail

N=${1:-10000}
IMAGE_KIB=${IMAGE_KIB:-512}
CANARY=${CANARY:-50}
WAVE_PERCENT=${WAVE_PERCENT:-25}
ROLLOUT_EVERY=${ROLLOUT_EVERY:-1s}
VERSION=${VERSION:-29.30.9.1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-rollout.XXXXXX")
DATA=$WORK/data
SERVER_PID= SIM_PID=

cleanup() {
	[ -n "$SIM_PID" ] && kill -INT "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
	[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
	if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

want=$((N + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
	ulimit -Hn "$want" 2>/dev/null || { echo "$N devices need ulimit -n $want; the hard limit is $hard" >&2; exit 1; }
fi
ulimit -n "$want"
echo "== rollout to $N devices; image $IMAGE_KIB KiB; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

BIN=${GATEHOUSE_BIN:-$WORK/gatehouse}
if [ -z "${GATEHOUSE_BIN:-}" ]; then
	(cd "$ROOT" && go build -o "$BIN" ./cmd/gatehouse)
fi

"$BIN" demo --data "$DATA" --password bench-password --devices "$N" --users 1000 >/dev/null
head -c "$((IMAGE_KIB * 1024))" /dev/urandom >"$WORK/image.rom"
"$BIN" admin add-firmware --data "$DATA" --model R29C --version "$VERSION" --file "$WORK/image.rom" \
	--change-log "bench image" | tee "$WORK/fw.out"
FWID=$(sed -n 's/.*(id \([0-9]*\)).*/\1/p' "$WORK/fw.out")
[ -n "$FWID" ] || { echo "no firmware id in: $(cat "$WORK/fw.out")"; exit 1; }

"$BIN" serve --data "$DATA" --addr 127.0.0.1:0 --log-level warn --rollout-every "$ROLLOUT_EVERY" \
	>"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
URL=
for _ in $(seq 1 200); do
	URL=$(sed -n 's|.*serving at \(http://[0-9.:]*\)/.*|\1|p' "$WORK/serve.out")
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || { echo "server did not start:"; cat "$WORK/serve.err"; exit 1; }

cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

"$BIN" devicesim --server "$URL" --count "$N" --data "$DATA" --state "$WORK/sim-state" \
	--source-addrs auto --report 1s >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
while ! grep -q "all $N devices online" "$WORK/sim.out"; do
	kill -0 "$SIM_PID" 2>/dev/null || { echo "devicesim exited:"; tail "$WORK/sim.err"; exit 1; }
	sleep 0.5
done
echo "== $N devices online ($(grep -o "all $N devices online after [^ ]*" "$WORK/sim.out" | awk '{print $NF}'))"
sleep 3

TOKEN=$(curl -fsS -X POST "$URL/api/v1/auth/login" -H 'Content-Type: application/json' \
	-d '{"username":"demo-admin","password":"bench-password"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { echo "admin login failed"; exit 1; }
api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

BODY=$(printf '{"firmware_id":%s,"name":"bench %s devices","targets":{},"plan":{"canary_count":%s,"wave_percent":%s,"window_start":"00:00","window_end":"24:00","failure_threshold":10,"device_timeout":900}}' \
	"$FWID" "$N" "$CANARY" "$WAVE_PERCENT")
echo "== preview: $(api -X POST "$URL/api/v1/rollouts/preview" -d "$BODY")"
RID=$(api -X POST "$URL/api/v1/rollouts" -d "$BODY" | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
[ -n "$RID" ] || { echo "no rollout made"; exit 1; }
RSS0=$(rss_kib "$SERVER_PID")
CPU0=$(cpu_s "$SERVER_PID")
SIMCPU0=$(cpu_s "$SIM_PID")
PEAK=$RSS0
t0=$(date +%s.%N)
api -X POST "$URL/api/v1/rollouts/$RID/start" >/dev/null
status=
while :; do
	r=$(api "$URL/api/v1/rollouts/$RID")
	status=$(echo "$r" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' | head -1)
	rss=$(rss_kib "$SERVER_PID")
	[ "$rss" -gt "$PEAK" ] && PEAK=$rss
	if [ "$(($(date +%s) % 5))" = 0 ]; then
		echo "   $(printf '%5.0f' "$(echo "$(date +%s.%N) - $t0" | bc)") s  $status  $(echo "$r" | grep -o '"by_state":{[^}]*}')"
	fi
	case "$status" in done | paused | canceled) break ;; esac
	sleep 1
done
ELAPSED=$(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f')
CPU1=$(cpu_s "$SERVER_PID")
cat <<EOT
== result: rollout of $IMAGE_KIB KiB to $N devices: $status after $ELAPSED s
   server CPU during the rollout: $(echo "$CPU1 - $CPU0" | bc) s; simulator CPU: $(echo "$(cpu_s "$SIM_PID") - $SIMCPU0" | bc) s
   server RSS: $((RSS0 / 1024)) MiB before, $((PEAK / 1024)) MiB at its peak (1 s samples)
   final: $(api "$URL/api/v1/rollouts/$RID" | grep -o '"by_state":{[^}]*}')
EOT
