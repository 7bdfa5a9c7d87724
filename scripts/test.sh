#!/usr/bin/env bash
# `make test`: every test on both back ends, with what each suite needs found
# or started here, and a summary of anything that did not run.
#
#   scripts/test.sh                     go test ./... (what `make test` runs)
#   scripts/test.sh -run TestX ./internal/server/   other go test arguments
#
# What it sets up by itself:
#   PostgreSQL   GATEHOUSE_TEST_POSTGRES when set; else a throw-away cluster from
#                $PG_BIN (default /usr/lib/postgresql/15/bin; scripts/pg-start.sh) in
#                a temporary directory on a free port, stopped and removed at the end.
#   stripe-mock  on PATH or in $(go env GOPATH)/bin.
#   Chromium     chromium, chromium-browser or google-chrome on PATH.
#   poppler      pdftotext and pdftoppm on PATH.
# A missing one is named before the tests run, and every test it skipped is named
# after them (scripts/testreport: "SKIPPED: <package> <test>: <reason>" by suite).
#
# With CI=true a missing service stops the run before the tests, and any skipped
# test fails it — except the opt-in tools (screenshots, measurements that run when
# their GATEHOUSE_* variable is set), listed in scripts/testreport/main.go: they
# are tools, not suites.
#
# The tests must not write into the source tree: new files there fail the run.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
ci=false
[ "${CI:-}" = true ] && ci=true
pgbin=${PG_BIN:-/usr/lib/postgresql/15/bin}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test.XXXXXX") || exit 1
pgdir=
cleanup() {
  if [ -n "$pgdir" ]; then
    scripts/pg-stop.sh "$pgdir"
    rm -rf "$pgdir"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

missing=()   # services not found: "name: how to get it"

# --- PostgreSQL --------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
  echo "PostgreSQL:  GATEHOUSE_TEST_POSTGRES=$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$GATEHOUSE_TEST_POSTGRES")"
elif [ -x "$pgbin/initdb" ]; then
  # initdb refuses to run as root: pg-start.sh runs it as postgres, which must
  # reach the directory (so not under root's TMPDIR).
  base=${TMPDIR:-/tmp}
  [ "$(id -u)" = 0 ] && base=/tmp
  pgdir=$(mktemp -d "$base/gatehouse-pg.XXXXXX") || exit 1
  dsn=
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    port_free "$port" || continue
    if dsn=$(scripts/pg-start.sh "$pgdir" "$port" 2>"$tmp/pg-start.err"); then break; fi
    dsn=
  done
  if [ -n "$dsn" ]; then
    export GATEHOUSE_TEST_POSTGRES=$dsn
    echo "PostgreSQL:  a throw-away $("$pgbin/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /') on 127.0.0.1:$port (in $pgdir, removed at the end)"
  else
    echo "PostgreSQL:  could not start one from $pgbin:"
    cat "$tmp/pg-start.err"
    missing+=("PostgreSQL: $pgbin did not start (see above); or set GATEHOUSE_TEST_POSTGRES=postgres://…")
  fi
else
  missing+=("PostgreSQL: none at $pgbin: install PostgreSQL 15 there, set PG_BIN to another bin directory, or set GATEHOUSE_TEST_POSTGRES=postgres://…")
fi

# --- stripe-mock ---------------------------------------------------------------
# Where stripetest.Binary looks too: PATH, each GOPATH's bin, ~/go/bin.
stripe=$(command -v stripe-mock 2>/dev/null)
if [ -z "$stripe" ]; then
  IFS=: read -ra gopaths <<<"$($GO env GOPATH)"
  for d in "${gopaths[@]}" "${HOME:-/nonexistent}/go"; do
    if [ -x "$d/bin/stripe-mock" ]; then stripe=$d/bin/stripe-mock; export PATH="$PATH:$d/bin"; break; fi
  done
fi
if [ -n "$stripe" ]; then
  echo "stripe-mock: $stripe"
else
  missing+=("stripe-mock (Stripe tests): go install github.com/stripe/stripe-mock@latest")
fi

# --- Chromium and poppler --------------------------------------------------------
browser=
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -n "$browser" ]; then
  echo "Chromium:    $browser"
else
  missing+=("Chromium (browser tests): apt-get install chromium — chromium, chromium-browser or google-chrome on PATH")
fi
if command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
  echo "poppler:     $(command -v pdftotext)"
else
  missing+=("poppler-utils (PDF invoice tests): apt-get install poppler-utils")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo
  for m in "${missing[@]}"; do echo "*** MISSING $m"; done
  if $ci; then
    echo "FAIL: CI=true: CI runs every suite, and the services above are missing (.ci/run installs them)."
    exit 1
  fi
  echo "*** The tests that need them will be SKIPPED (named at the end)."
fi
echo

# --- the tests -------------------------------------------------------------------
tree_files() {
  git status --porcelain --ignored --untracked-files=all 2>/dev/null | sed -n 's/^\(??\|!!\) //p' | sort
}
in_git=false
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=true
$in_git && tree_files >"$tmp/tree.before"

$GO build -o "$tmp/testreport" ./scripts/testreport || exit 1
strict=()
$ci && strict=(-strict)
[ $# -eq 0 ] && set -- ./...
$GO test -count=1 -timeout 40m -json "$@" 2>&1 | "$tmp/testreport" ${strict[@]+"${strict[@]}"} -trim "$($GO list -m)/"
status=("${PIPESTATUS[@]}")
rc=0
[ "${status[0]}" = 0 ] && [ "${status[1]}" = 0 ] || rc=1

if $in_git; then
  tree_files >"$tmp/tree.after"
  new=$(comm -13 "$tmp/tree.before" "$tmp/tree.after")
  if [ -n "$new" ]; then
    echo
    echo "FAIL: files appeared in the source tree while the tests ran (tests must write under t.TempDir()):"
    sed 's/^/  /' <<<"$new"
    rc=1
  fi
fi
if [ $rc = 0 ]; then echo "PASS"; else echo "FAIL"; fi
exit $rc
