#!/usr/bin/env bash
# test.sh — run every test of the project: unit tests with the race
# detector, the interop tests against Debian's Postfix (installed with apt
# when missing), and a short run of every fuzz target.
#
#   scripts/test.sh            # as root on Debian 12
#   FUZZTIME=30s scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

scripts/install-deps.sh
# With Postfix present the interop tests must run, not skip.
if [ "$(id -u)" = 0 ]; then
    export TLSPROXY_INTEROP_REQUIRED=1
fi

echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (${FUZZTIME:=10s} per target)"
for pkg in $(go list ./internal/...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
        go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
    done
done
echo "== all tests passed"
