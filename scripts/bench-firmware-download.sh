#!/usr/bin/env bash
# bench-firmware-download.sh — how fast does a node serve a firmware image to
# devices (GET /device/v1/firmware/{id}?token=…, issue 15 point 5), side by
# side with nginx serving the very same file from a directory?
#
#   scripts/bench-firmware-download.sh                 # a 16 MiB image, 3 runs of 10 s
#   SIZE_MIB=64 CONNECTIONS=32 DURATION=20s RUNS=5 scripts/bench-firmware-download.sh
#   GATEHOUSE_BIN=/tmp/gatehouse-old scripts/bench-firmware-download.sh   # measure another build
#
# Steps: build gatehouse; a fresh SQLite data directory with a known secret
# key; `gatehouse admin add-firmware --file` stores a random image of
# $SIZE_MIB MiB (in the database, in chunks); `gatehouse serve`; a download
# token is made as the node makes them (deviceauth.FirmwareToken: device id,
# firmware id, expiry, HMAC-SHA256 under a key derived from the secret key);
# a first download fills the node's cache file and is checked against the
# sha256; nginx (sendfile on) serves the same file at the same path; wrk then
# downloads it over and over from each, alternating which goes first. Prints
# MiB/s of each and the ratio, and the bytes served per CPU-second of each
# server's processes (what the server spends, whatever wrk and the other
# server take of the same cores), and min / median / max over the runs.
#
# Run it under the shared lock when other work runs on the machine:
#   flock /tmp/bench.lock scripts/bench-firmware-download.sh
#
# Needs: go, wrk, nginx (/usr/sbin/nginx), python3, curl, awk. Nothing is installed.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/gatehouse-bench-firmware}
GH_PORT=${GH_PORT:-18490}
NGINX_PORT=${NGINX_PORT:-18491}
NGINX=${NGINX:-/usr/sbin/nginx}

cd "$(dirname "$0")/.."
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 755 "$WORK"

if [ -n "${GATEHOUSE_BIN:-}" ]; then
  rm -f "$WORK/gatehouse"
  cp "$GATEHOUSE_BIN" "$WORK/gatehouse"
else
  echo "== build"
  go build -o "$WORK/gatehouse" ./cmd/gatehouse
fi

DATA="$WORK/data"
rm -rf "$DATA"
mkdir -p "$DATA"
SECRET=$(python3 -c 'import os; print(os.urandom(32).hex())')
export GATEHOUSE_SECRET_KEY=$SECRET

echo "== a $SIZE_MIB MiB image, stored by gatehouse admin add-firmware --file"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/image.bin"
SHA=$(sha256sum "$WORK/image.bin" | cut -d' ' -f1)
"$WORK/gatehouse" admin add-firmware --data "$DATA" --version bench-1 --model R29 --file "$WORK/image.bin" \
  --max-bytes $(((SIZE_MIB + 1) << 20)) | tee "$WORK/add.txt"
ID=$(sed -n 's/.*(id \([0-9]*\)).*/\1/p' "$WORK/add.txt")
[ -n "$ID" ] || { echo "no firmware id in the output"; exit 1; }

# The token, made as deviceauth.FirmwareToken makes it.
TOKEN=$(python3 - "$SECRET" "$ID" <<'PY'
import base64, hashlib, hmac, struct, sys, time
secret, fw = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
key = hmac.new(secret, b"gatehouse firmware download token v1", hashlib.sha256).digest()
msg = struct.pack(">QQQ", 1, fw, int(time.time()) + 3600)
tag = hmac.new(key, msg, hashlib.sha256).digest()[:16]
print(base64.urlsafe_b64encode(msg + tag).decode().rstrip("="))
PY
)
URL_PATH="/device/v1/firmware/$ID?token=$TOKEN"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== start gatehouse serve on 127.0.0.1:$GH_PORT"
"$WORK/gatehouse" serve --data "$DATA" --addr "127.0.0.1:$GH_PORT" --log-level warn --firmware-downloads 256 >"$WORK/serve.log" 2>&1 &
pids+=($!)
gh_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$GH_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$GH_PORT/healthz" >/dev/null || { echo "gatehouse did not start:"; cat "$WORK/serve.log"; exit 1; }

echo "== first download (fills the node's cache from the database)"
start=$(date +%s.%N)
got=$(curl -fs "http://127.0.0.1:$GH_PORT$URL_PATH" | sha256sum | cut -d' ' -f1)
echo "first download: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }') s, sha256 $([ "$got" = "$SHA" ] && echo matches || echo "DIFFERS: $got")"
[ "$got" = "$SHA" ] || exit 1

STATIC="$WORK/static"
rm -rf "$STATIC"
mkdir -p "$STATIC/device/v1/firmware"
cp "$WORK/image.bin" "$STATIC/device/v1/firmware/$ID"
chmod -R a+rX "$STATIC"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes $THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=100 inactive=120s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $STATIC;
    location /device/ { }
  }
}
NGINX
echo "== start nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" &
pids+=($!)
nginx_master=$!
sleep 1
cmp <(curl -fs "http://127.0.0.1:$NGINX_PORT$URL_PATH") <(curl -fs "http://127.0.0.1:$GH_PORT$URL_PATH") &&
  echo "nginx and gatehouse serve the same bytes"

cpu_ticks() { # user + system CPU time of the processes PID…, in clock ticks
  local t=0 p f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
TICK=$(getconf CLK_TCK)

# measure NAME URL PID…: wrk downloads URL over and over; prints MiB/s (whole
# images served), non-2xx answers and MiB served per CPU-second of PID….
measure() {
  local name=$1 url=$2
  shift 2
  local before after
  before=$(cpu_ticks "$@")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 60s "$url" >"$WORK/$name.txt"
  after=$(cpu_ticks "$@")
  local reqs secs bad mibs cpus percpu
  reqs=$(awk '/requests in/ {print $1}' "$WORK/$name.txt")
  secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$WORK/$name.txt")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/$name.txt")
  mibs=$(awk -v r="$reqs" -v s="$secs" -v m="$SIZE_MIB" 'BEGIN { printf "%.0f", r * m / s }')
  cpus=$(awk -v t=$((after - before)) -v hz="$TICK" 'BEGIN { printf "%.2f", t / hz }')
  percpu=$(awk -v r="$reqs" -v m="$SIZE_MIB" -v c="$cpus" 'BEGIN { if (c > 0) printf "%.0f", r * m / c; else print "?" }')
  printf '%-10s %8s MiB/s   %6s images   non-2xx %s   %8s MiB per server CPU-second (%s CPU-s)\n' "$name" "$mibs" "$reqs" "${bad:-0}" "$percpu" "$cpus"
  eval "${name}_mibs=$mibs"
  eval "${name}_percpu=$percpu"
}

: >"$WORK/runs.txt"
for run in $(seq "$RUNS"); do
  echo "== run $run of $RUNS: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, a $SIZE_MIB MiB image ($(uptime | sed 's/.*load/load/'))"
  if [ $((run % 2)) = 1 ]; then
    measure gatehouse "http://127.0.0.1:$GH_PORT$URL_PATH" "$gh_pid"
    # shellcheck disable=SC2046
    measure nginx "http://127.0.0.1:$NGINX_PORT$URL_PATH" "$nginx_master" $(pgrep -P "$nginx_master")
  else
    # shellcheck disable=SC2046
    measure nginx "http://127.0.0.1:$NGINX_PORT$URL_PATH" "$nginx_master" $(pgrep -P "$nginx_master")
    measure gatehouse "http://127.0.0.1:$GH_PORT$URL_PATH" "$gh_pid"
  fi
  ratio=$(awk -v g="$gatehouse_mibs" -v n="$nginx_mibs" 'BEGIN { printf "%.2f", g / n }')
  percpu_ratio=$(awk -v g="$gatehouse_percpu" -v n="$nginx_percpu" 'BEGIN { if (g > 0 && n > 0) printf "%.2f", g / n; else print "?" }')
  echo "gatehouse / nginx = $ratio; per server CPU-second: gatehouse / nginx = $percpu_ratio"
  echo "$gatehouse_mibs $nginx_mibs $ratio $gatehouse_percpu $nginx_percpu $percpu_ratio" >>"$WORK/runs.txt"
  cp "$WORK/gatehouse.txt" "$WORK/gatehouse-run$run.txt"
  cp "$WORK/nginx.txt" "$WORK/nginx-run$run.txt"
done
echo "== $RUNS runs: min / median / max"
summary() { # column name
  awk -v c="$1" '{ print $c }' "$WORK/runs.txt" | sort -g | awk -v name="$2" '{ v[NR] = $1 } END { printf "%-44s %s / %s / %s\n", name, v[1], v[int((NR + 1) / 2)], v[NR] }'
}
summary 1 "gatehouse MiB/s"
summary 2 "nginx MiB/s"
summary 3 "gatehouse / nginx"
summary 4 "gatehouse MiB per server CPU-second"
summary 5 "nginx MiB per server CPU-second"
summary 6 "per server CPU-second: gatehouse / nginx"
echo "(wrk outputs: $WORK/gatehouse-run*.txt, $WORK/nginx-run*.txt; one line a run: $WORK/runs.txt)"
