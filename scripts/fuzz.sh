#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (each `func FuzzXxx` of a
# _test.go file, found by grep, so that new targets join by themselves),
# one at a time, for FUZZTIME each, and fails if any fails. A failing
# input is written by go test to the package's testdata/fuzz/FuzzXxx/:
# commit it with the fix, and `go test` runs it from then on.
#
#   FUZZTIME      per target (default 30s; go test's -fuzztime: 30s, 1m, 10000x)
#   FUZZPARALLEL  fuzzing workers per target (default: go test's, GOMAXPROCS)
#   FUZZ          only targets whose "package-path FuzzName" matches this
#                 extended regexp (default: all)
set -u
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-30s}
FUZZ=${FUZZ:-}
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi

# "package-path FuzzName", one a line, sorted.
targets=$(grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir='.[!.]*' \
	'^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($|\1 \2|' | sort -u)
if [ -n "$FUZZ" ]; then
	targets=$(printf '%s\n' "$targets" | grep -E -- "$FUZZ" || true)
fi
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
summary=()
while read -r pkg name; do
	echo "fuzz: $pkg $name for $FUZZTIME"
	start=$(date +%s)
	if go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "./$pkg" >"$log" 2>&1; then
		status=ok
	else
		status=FAIL
		failed=$((failed + 1))
		# What go test said, without its progress lines.
		grep -v '^fuzz: elapsed' "$log" | tail -n 40
	fi
	# The last progress line holds the number of inputs run.
	execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
	line=$(printf '%-4s %-32s %-22s %4ss %s execs' "$status" "$pkg" "$name" "$(($(date +%s) - start))" "${execs:-?}")
	echo "$line"
	summary+=("$line")
done <<<"$targets"

echo
echo "fuzz summary ($FUZZTIME a target):"
printf '%s\n' "${summary[@]}"
if [ "$failed" -gt 0 ]; then
	echo "fuzz: $failed of ${#summary[@]} targets failed" >&2
	exit 1
fi
