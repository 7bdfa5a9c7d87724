#!/usr/bin/env bash
# bench-autop.sh — how fast does the AutoP server answer GET /autop/{MAC}.cfg
# with a database of a million devices, side by side with nginx serving the
# very same files statically from a directory (issue 5, point 9: goal ≥ 0.5×
# nginx)?
#
#   scripts/bench-autop.sh                  # 1,000,000 devices, 10,000 sampled
#   DEVICES=100000 DURATION=10s scripts/bench-autop.sh
#   GATEHOUSE_BIN=/tmp/gatehouse-old scripts/bench-autop.sh   # measure another build
#   SEED_DATA=/tmp/bench-after/data-1000000 scripts/bench-autop.sh   # start from a copy of a prepared database
#   RUNS=3 scripts/bench-autop.sh           # three measurements, alternating which server goes first
#
# SEED_DATA (SQLite only) is a data directory of an earlier run — its
# gatehouse.db with the demo loaded, and its .loaded/.keys-set/.autop-set
# markers — copied into $WORK once instead of the 4–12 minute load (not
# while a server has it open); the original is only read.
#
# Steps: build gatehouse; load a SQLite demo of $DEVICES devices into
# $WORK/data-$DEVICES once (about 4 minutes for a million; kept for later
# runs); accept a key for each of $SAMPLE devices (`gatehouse admin
# enroll-keys`, as a maker's factory list would); start `gatehouse serve`; a
# first wrk pass over the sample saves every file served; nginx then serves those files from a directory;
# finally wrk measures both with the same Lua script: it rotates over the
# sampled MACs, each request with the device's HTTP Basic MAC:key (nginx
# ignores it). Prints requests/s and p99 latency of both and the ratio.
#
# Two nodes (issue 13): NODES=2 PG_DSN=postgres://… scripts/bench-autop.sh runs
# two `gatehouse serve` on that PostgreSQL database, sharing a NATS server
# (built from the module cache), and measures both nodes at once — half the
# connections each, the sum of their requests/s — beside nginx. The demo is
# loaded into PG_DSN once (DEVICES=200000 is a sensible size there).
#
# Needs: go, wrk, nginx (/usr/sbin/nginx), awk. Nothing is installed.
set -euo pipefail

NODES=${NODES:-1}
PG_DSN=${PG_DSN:-}
NATS_PORT=${NATS_PORT:-18482}
if [ "$NODES" != 1 ] && { [ "$NODES" != 2 ] || [ -z "$PG_DSN" ]; }; then
  echo "NODES=2 needs PG_DSN=postgres://… (nodes share a PostgreSQL database); NODES is 1 or 2" >&2
  exit 2
fi

DEVICES=${DEVICES:-1000000}
SAMPLE=${SAMPLE:-10000}
DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WORK=${WORK:-/tmp/gatehouse-bench-autop}
GH_PORT=${GH_PORT:-18480}
NGINX_PORT=${NGINX_PORT:-18481}
NGINX=${NGINX:-/usr/sbin/nginx}
PASSWORD=bench-autop-password

cd "$(dirname "$0")/.."
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 755 "$WORK"

if [ -n "${GATEHOUSE_BIN:-}" ]; then # another build, e.g. an older commit's, to compare
  rm -f "$WORK/gatehouse" # an earlier run's server may still be exiting
  cp "$GATEHOUSE_BIN" "$WORK/gatehouse"
else
  echo "== build"
  go build -o "$WORK/gatehouse" ./cmd/gatehouse
fi

DATA="$WORK/data-$DEVICES"
if [ -n "${SEED_DATA:-}" ] && [ -z "$PG_DSN" ] && [ ! -f "$DATA/.loaded" ]; then
  echo "== copy the prepared database $SEED_DATA into $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  cp -a "$SEED_DATA"/. "$DATA"/
  [ -f "$DATA/.loaded" ] || { echo "$SEED_DATA has no .loaded marker: not a finished demo"; exit 1; }
fi
DB=()
if [ -n "$PG_DSN" ]; then
  DATA="$WORK/pg-data-$DEVICES" # markers and the outbox; the rows are in PG_DSN
  DB=(--db "$PG_DSN")
fi
if [ ! -f "$DATA/.loaded" ]; then
  echo "== load a demo of $DEVICES devices into ${PG_DSN:+PostgreSQL, markers in }$DATA (once; kept for later runs)"
  rm -rf "$DATA"
  start=$(date +%s)
  "$WORK/gatehouse" demo --data "$DATA" "${DB[@]}" --password "$PASSWORD" --devices "$DEVICES" >"$WORK/demo.log"
  grep -E '^(devices|AutoP)' "$WORK/demo.log" || true
  echo "loaded in $(( $(date +%s) - start )) s"
  touch "$DATA/.loaded"
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done # gone before the next run starts
}
trap cleanup EXIT

NATS=()
if [ "$NODES" = 2 ]; then
  echo "== start nats-server on 127.0.0.1:$NATS_PORT"
  go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2
  "$WORK/nats-server" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
  pids+=($!)
  NATS=(--nats "nats://127.0.0.1:$NATS_PORT")
  sleep 0.5
fi

gh_procs=() # the gatehouse servers, whose CPU time measure() reads
start_node() { # port name
  echo "== start gatehouse serve on 127.0.0.1:$1 (node $2)"
  "$WORK/gatehouse" serve --data "$DATA" "${DB[@]}" "${NATS[@]}" --node "$2" --addr "127.0.0.1:$1" --log-level warn >"$WORK/serve-$2.log" 2>&1 &
  pids+=($!)
  gh_procs+=($!)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fs "http://127.0.0.1:$1/healthz" >/dev/null || { echo "gatehouse did not start:"; cat "$WORK/serve-$2.log"; exit 1; }
}
GH_PORT_B=$((GH_PORT + 10))
start_node "$GH_PORT" a
[ "$NODES" = 2 ] && start_node "$GH_PORT_B" b

# The sample: $SAMPLE devices spread over the whole database (the demo's
# devices are ids 1…N, MAC 0C1105 + the id in 6 hex digits), each with a key
# of the protocol's form.
awk -v n="$DEVICES" -v s="$SAMPLE" 'BEGIN {
  step = int(n / s); if (step < 1) step = 1
  for (i = 0; i < s && 1 + i * step <= n; i++) {
    mac = sprintf("0C1105%06X", 1 + i * step)
    printf "%s bench-autop-key-%s-0001\n", mac, mac
  }
}' >"$WORK/macs.txt"
echo "sample: $(wc -l <"$WORK/macs.txt") devices"

# The AutoP server never accepts a key (only enrollment does): accept the
# sample's keys as a maker's list, once per database.
if [ ! -f "$DATA/.keys-set" ]; then
  echo "== accept the sampled devices' keys (gatehouse admin enroll-keys)"
  "$WORK/gatehouse" admin enroll-keys --data "$DATA" "${DB[@]}" --file "$WORK/macs.txt"
  touch "$DATA/.keys-set"
fi

# Give the sampled devices AutoP commands through the API, as a
# sub-distributor would (once per database): two regular commands each, and
# one-time commands for every tenth, so that the files are realistic.
if [ ! -f "$DATA/.autop-set" ]; then
  echo "== give the sampled devices AutoP commands (PUT /api/v1/devices/{mac}/autop as demo-admin)"
  TOKEN=$(curl -fs -X POST -d "{\"username\":\"demo-admin\",\"password\":\"$PASSWORD\"}" "http://127.0.0.1:$GH_PORT/api/v1/auth/login" |
    sed -n 's/^ *"token": *"\([^"]*\)".*/\1/p')
  [ -n "$TOKEN" ] || { echo "login as demo-admin failed"; exit 1; }
  awk '{ print NR, $1 }' "$WORK/macs.txt" | xargs -P 8 -n 2 sh -c '
    once=""; [ $(($1 % 10)) -eq 0 ] && once=",\"once\":[\"Config.Settings.LOGLEVEL.Level = 7\"]"
    curl -s -o /dev/null -w "%{http_code}\n" -X PUT -H "Authorization: Bearer '"$TOKEN"'" \
      -d "{\"regular\":[\"Config.DoorSetting.RELAY.HoldDelayA = $(($1 % 9 + 1))\",\"Config.Settings.SNTP.NTPServer1 = pool.ntp.org\"]$once}" \
      "http://127.0.0.1:'"$GH_PORT"'/api/v1/devices/$2/autop"' _ | sort | uniq -c
  touch "$DATA/.autop-set"
fi

cat >"$WORK/autop.lua" <<'LUA'
-- Rotates over the devices of MACS_FILE ("MAC key" a line), each request
-- with the device's HTTP Basic credentials. With SAVE_DIR set, every file
-- served is saved there as <MAC>.cfg (named by its first line).
local b64c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64c:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("first", threads * 7919)
end

local reqs, idx = {}, 0
function init(args)
  for line in io.lines(os.getenv("MACS_FILE")) do
    local mac, key = line:match("^(%S+) (%S+)$")
    if mac then
      reqs[#reqs + 1] = wrk.format("GET", "/autop/" .. mac .. ".cfg", { ["Authorization"] = "Basic " .. b64(mac .. ":" .. key) })
    end
  end
  idx = (first or 0) % #reqs
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

local save = os.getenv("SAVE_DIR")
if save and save ~= "" then
  function response(status, headers, body)
    if status == 200 then
      local mac = body:match("^# Gatehouse AutoP (%x+) version")
      if mac then
        local f = io.open(save .. "/" .. mac .. ".cfg", "w")
        f:write(body)
        f:close()
      end
    end
  end
end
LUA

STATIC="$WORK/static"
rm -rf "$STATIC"
mkdir -p "$STATIC/autop"
chmod -R 755 "$STATIC"

echo "== first pass: every sampled device fetches its file once, the files are saved for nginx"
for round in 1 2 3 4 5; do
  MACS_FILE="$WORK/macs.txt" SAVE_DIR="$STATIC/autop" wrk -t"$THREADS" -c"$CONNECTIONS" -d10s -s "$WORK/autop.lua" \
    "http://127.0.0.1:$GH_PORT" >"$WORK/warmup-$round.txt"
  have=$(find "$STATIC/autop" -name '*.cfg' | wc -l)
  echo "round $round: $have of $(wc -l <"$WORK/macs.txt") files"
  [ "$have" -ge "$(wc -l <"$WORK/macs.txt")" ] && break
done
chmod 644 "$STATIC"/autop/*.cfg
echo "example file:"
sed 's/^/  /' "$(find "$STATIC/autop" -name '*.cfg' | head -1)"

cat >"$WORK/nginx.conf" <<NGINX
worker_processes $THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=20000 inactive=120s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $STATIC;
    location /autop/ { }
  }
}
NGINX
echo "== start nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" &
pids+=($!)
nginx_master=$!
sleep 1
m=$(head -1 "$WORK/macs.txt" | cut -d' ' -f1)
cmp <(curl -fs "http://127.0.0.1:$NGINX_PORT/autop/$m.cfg") \
    <(curl -fs -u "$(head -1 "$WORK/macs.txt" | tr ' ' ':')" "http://127.0.0.1:$GH_PORT/autop/$m.cfg") \
  && echo "nginx and gatehouse serve the same bytes for $m"

# cpu_ticks PID…: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
TICK=$(getconf CLK_TCK)

# to_ms: wrk's latency (850.00us, 29.06ms, 1.02s) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    printf "%.2f", (u == "us" ? n / 1000 : u == "s" ? n * 1000 : u == "m" ? n * 60000 : n) }'
}

# measure NAME URL PID…: wrk against URL; prints requests/s, p99 and the
# requests served per CPU-second of the server processes PID… (what the
# server spends, whatever wrk and the other server take of the same cores).
measure() {
  local name=$1 url=$2
  shift 2
  local before after
  before=$(cpu_ticks "$@")
  MACS_FILE="$WORK/macs.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/autop.lua" "$url" >"$WORK/$name.txt"
  after=$(cpu_ticks "$@")
  local rps p99 bad reqs percpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/$name.txt")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/$name.txt")
  reqs=$(awk '/requests in/ {print $1}' "$WORK/$name.txt")
  percpu=$(awk -v r="$reqs" -v t=$((after - before)) -v hz="$TICK" 'BEGIN { if (t > 0) printf "%.0f", r / (t / hz); else print "?" }')
  printf '%-10s %12s req/s   p99 %8s   non-2xx %s   %s req per server CPU-second (%.1f CPU-s)\n' "$name" "$rps" "$p99" "${bad:-0}" "$percpu" \
    "$(awk -v t=$((after - before)) -v hz="$TICK" 'BEGIN { print t / hz }')"
  eval "${name}_rps=$rps"
  eval "${name}_percpu=$percpu"
  eval "${name}_p99=$(to_ms "$p99")"
}

# measure_two: both nodes at once, half the threads and connections each;
# gatehouse_rps is the sum, gatehouse_percpu over both nodes' CPU time.
measure_two() {
  local before after
  before=$(cpu_ticks "${gh_procs[@]}")
  MACS_FILE="$WORK/macs.txt" wrk -t$((THREADS / 2 > 0 ? THREADS / 2 : 1)) -c$((CONNECTIONS / 2)) -d"$DURATION" --latency -s "$WORK/autop.lua" "http://127.0.0.1:$GH_PORT" >"$WORK/gatehouse-a.txt" &
  local wa=$!
  MACS_FILE="$WORK/macs.txt" wrk -t$((THREADS / 2 > 0 ? THREADS / 2 : 1)) -c$((CONNECTIONS / 2)) -d"$DURATION" --latency -s "$WORK/autop.lua" "http://127.0.0.1:$GH_PORT_B" >"$WORK/gatehouse-b.txt"
  wait "$wa"
  after=$(cpu_ticks "${gh_procs[@]}")
  local n rps p99 bad reqs
  for n in a b; do
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/gatehouse-$n.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/gatehouse-$n.txt")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/gatehouse-$n.txt")
    printf '%-10s %12s req/s   p99 %8s   non-2xx %s\n' "node-$n" "$rps" "$p99" "${bad:-0}"
  done
  gatehouse_rps=$(awk '/^Requests\/sec:/ {s += $2} END {print s}' "$WORK/gatehouse-a.txt" "$WORK/gatehouse-b.txt")
  gatehouse_p99=$(for n in a b; do to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/gatehouse-$n.txt")"; echo; done | sort -g | tail -1)
  reqs=$(awk '/requests in/ {s += $1} END {print s}' "$WORK/gatehouse-a.txt" "$WORK/gatehouse-b.txt")
  gatehouse_percpu=$(awk -v r="$reqs" -v t=$((after - before)) -v hz="$TICK" 'BEGIN { if (t > 0) printf "%.0f", r / (t / hz); else print "?" }')
  printf '%-10s %12s req/s   p99 %6s ms (the slower node)   %s req per server CPU-second (%.1f CPU-s, both nodes)\n' "gatehouse" "$gatehouse_rps" "$gatehouse_p99" \
    "$gatehouse_percpu" "$(awk -v t=$((after - before)) -v hz="$TICK" 'BEGIN { print t / hz }')"
}

measure_gatehouse() {
  if [ "$NODES" = 2 ]; then
    measure_two
  else
    measure gatehouse "http://127.0.0.1:$GH_PORT" "${gh_procs[@]}"
  fi
}
measure_nginx() {
  # shellcheck disable=SC2046 # the master and its workers, one PID each
  measure nginx "http://127.0.0.1:$NGINX_PORT" "$nginx_master" $(pgrep -P "$nginx_master")
}

# What the servers spend with nothing to serve (gatehouse's background work:
# the gateway's sweeps, the bus), over IDLE_SECONDS: the per-CPU figures
# below include it, this says how much it is.
idle_seconds=${IDLE_SECONDS:-5}
idle_before=$(cpu_ticks "${gh_procs[@]}")
sleep "$idle_seconds"
idle_after=$(cpu_ticks "${gh_procs[@]}")
echo "idle: gatehouse spends $(awk -v t=$((idle_after - idle_before)) -v hz="$TICK" -v s="$idle_seconds" 'BEGIN { printf "%.3f", t / hz / s }') CPU-s per second with no requests"

# RUNS measurements; odd runs measure gatehouse first, even ones nginx, so
# that neither always has the warmer machine. Each run's ratios are taken
# within the run.
RUNS=${RUNS:-1}
: >"$WORK/runs.txt"
for run in $(seq "$RUNS"); do
  echo "== run $run of $RUNS: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, rotating over $(wc -l <"$WORK/macs.txt") devices ($(uptime | sed 's/.*load/load/'))"
  if [ $((run % 2)) = 1 ]; then
    measure_gatehouse
    measure_nginx
  else
    measure_nginx
    measure_gatehouse
  fi
  ratio=$(awk -v g="$gatehouse_rps" -v n="$nginx_rps" 'BEGIN { printf "%.2f", g / n }')
  percpu_ratio=$(awk -v g="$gatehouse_percpu" -v n="$nginx_percpu" 'BEGIN { if (g > 0 && n > 0) printf "%.2f", g / n; else print "?" }')
  echo "gatehouse / nginx = $ratio (goal ≥ 0.50); per server CPU-second: gatehouse / nginx = $percpu_ratio (goal ≥ 0.90)"
  echo "$gatehouse_rps $nginx_rps $ratio $gatehouse_percpu $nginx_percpu $percpu_ratio ${gatehouse_p99:-?} ${nginx_p99:-?}" >>"$WORK/runs.txt"
  cp "$WORK/gatehouse.txt" "$WORK/gatehouse-run$run.txt" 2>/dev/null || true
  cp "$WORK/nginx.txt" "$WORK/nginx-run$run.txt"
done
if [ "$RUNS" -gt 1 ]; then
  echo "== $RUNS runs: min / median / max"
  summary() { # column name
    awk -v c="$1" '{ print $c }' "$WORK/runs.txt" | sort -g | awk -v name="$2" '{ v[NR] = $1 } END { printf "%-42s %s / %s / %s\n", name, v[1], v[int((NR + 1) / 2)], v[NR] }'
  }
  summary 1 "gatehouse req/s"
  summary 2 "nginx req/s"
  summary 3 "gatehouse / nginx"
  summary 4 "gatehouse req per server CPU-second"
  summary 5 "nginx req per server CPU-second"
  summary 6 "per server CPU-second: gatehouse / nginx"
  summary 7 "gatehouse p99 (ms)"
  summary 8 "nginx p99 (ms)"
fi
echo "(full wrk outputs: $WORK/gatehouse*.txt, $WORK/nginx*.txt; one line a run: $WORK/runs.txt)"
