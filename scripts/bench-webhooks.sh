#!/usr/bin/env bash
# bench-webhooks.sh — events per second delivered to 1,000 webhook endpoints
# (issue 16), each its own HTTPS receiver in the process, with the heap
# before, at its peak during, and after (BenchmarkWebhookDelivery1000 in
# internal/usecase). Runs it RUNS times (3), each in a process of its own,
# and prints min / median / max.
#
#   scripts/bench-webhooks.sh                      # SQLite, 20 events × 1,000 endpoints per run
#   BACKEND=postgres scripts/bench-webhooks.sh     # needs GATEHOUSE_TEST_POSTGRES
#   EVENTS=100 RUNS=5 scripts/bench-webhooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-20}
BACKEND=${BACKEND:-sqlite}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/usecase.test" ./internal/usecase/
for i in $(seq "$RUNS"); do
	(cd internal/usecase && GATEHOUSE_BENCH_HOOK_EVENTS=$EVENTS "$tmp/usecase.test" -test.run '^$' \
		-test.bench "WebhookDelivery1000/$BACKEND" -test.benchtime 1x -test.timeout 30m) | grep Benchmark | tee -a "$tmp/out"
done
summary() { # metric name
	grep -o "[0-9.]* $1" "$tmp/out" | awk '{print $1}' | sort -g | awk -v name="$1" '
		{ v[NR] = $1 }
		END { if (NR == 0) exit 1; printf "%-16s min %10.1f  median %10.1f  max %10.1f  (%d runs)\n", name, v[1], v[int((NR+1)/2)], v[NR], NR }'
}
echo "$EVENTS events × 1,000 endpoints per run, $BACKEND"
for m in deliveries/s heap-MiB-before heap-MiB-peak heap-MiB-after; do summary "$m"; done
