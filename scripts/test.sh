#!/usr/bin/env bash
# test.sh — run every test of the project: unit tests with the race
# detector, the interop tests against Debian's Postfix (installed with apt
# when missing) and against Debian 13's Postfix in a debootstrap tree
# (scripts/debian13.sh, made when missing), and a short run of every fuzz
# target.
#
#   scripts/test.sh            # as root on Debian 12
#   FUZZTIME=1000000x scripts/test.sh   # fuzz longer (executions per target)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

scripts/install-deps.sh
# With Postfix present the interop tests must run, not skip.
if [ "$(id -u)" = 0 ]; then
    export TLSPROXY_INTEROP_REQUIRED=1
    # The Debian 13 tree of the TestDeb13* interop tests: about a minute
    # the first time, nothing to do afterwards.
    echo "== Debian 13 tree: $(scripts/debian13.sh)"
fi

# With a C compiler and libssl-dev (installed above) everything is built
# and tested with -tags libcrypto, the build the README recommends; the
# packages that differ are then also tested without it (pure Go).
tags=$(scripts/build-tags.sh)
echo "== go vet (tags: ${tags:-none})"
go vet -tags "$tags" ./...
echo "== go test -race (tags: ${tags:-none})"
# The interop package takes about 10 minutes on 2 CPUs (581 s in the run
# of 2026-12-03), at go test's default limit per package: give it 25.
GOFLAGS="-tags=$tags" go test -race -count=1 -timeout 25m ./...
if [ -n "$tags" ]; then
    echo "== go test -race, pure Go (no tags): the packages the tag changes"
    go test -race -count=1 ./internal/libcrypto ./internal/tlspolicy
fi

# The Debian package cycle on this machine's Postfix (root only): build,
# install, reinstall postfix, purge (scripts/deb-test.sh). It holds the
# interop lock: while our package is installed, Debian's tlsproxy path
# is ours.
if [ "$(id -u)" = 0 ]; then
    echo "== Debian package cycle"
    flock /tmp/interop.lock scripts/deb-test.sh
fi

# fuzz_one PKG DIR TARGET: fuzz one target. The budget is a count of
# executions (FUZZTIME=50000x by default), not a duration: with a duration,
# Go 1.26's fuzz coordinator can end a run with a bare "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27). Such
# a run (possible if FUZZTIME is set to a duration) is retried once; a run
# that writes a failing input under testdata/fuzz fails at once.
fuzz_one() {
    local corpus="$2/testdata/fuzz/$3" before after
    count() { if [ -d "$corpus" ]; then ls "$corpus" | wc -l; else echo 0; fi; }
    before=$(count)
    for attempt in 1 2; do
        if go test -run='^$' -fuzz="^${3}\$" -fuzztime="$FUZZTIME" "$1"; then
            return 0
        fi
        after=$(count)
        if [ "$after" != "$before" ]; then
            echo "fuzz: $3 wrote a failing input to $corpus" >&2
            return 1
        fi
        [ "$attempt" = 1 ] && echo "fuzz: $3 failed without a failing input (Go fuzz coordinator race); retrying once" >&2
    done
    return 1
}

echo "== fuzz (${FUZZTIME:=50000x} per target)"
for pkg in $(go list ./internal/...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
        fuzz_one "$pkg" "$dir" "$target"
    done
done
echo "== all tests passed"
