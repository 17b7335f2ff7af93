#!/usr/bin/env bash
# bench.sh — compare our tlsproxy with Debian 12's and Debian 13's C
# tlsproxy the way an operator would judge them, side by side in one run:
# build ours and the bench tool, install Debian's postfix if missing, make
# the Debian 13 tree (scripts/debian13.sh; BENCH_DEB13=0 skips it), then
# run cmd/tlsproxy-bench, which starts one loopback Postfix instance per
# binary and certificate type with scripts/pfinstance.sh (Debian 13's
# under chroot in its tree; same main.cf at Postfix's defaults, same ECDSA
# P-256 and RSA-2048 certificates), plays postscreen(8) and the remote TLS
# client against each tlsproxy socket (and, for the client role, smtp(8)
# with connection reuse and the remote TLS server, ours and Debian 12's
# only), alternating ours, C 12 and C 13, and prints the table. Needs
# root; about 15 minutes on 2 cores.
#
#   scripts/bench.sh                 # full comparison
#   scripts/bench.sh -quick          # a short run (CI-sized); other flags go
#                                    # to tlsproxy-bench (see -h)
#
# Results: $BENCH_OUT (default /tmp/tlsproxy-bench-out): bench.txt (the
# table), bench.json, bench.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

[ "$(id -u)" = 0 ] || { echo "bench.sh: must run as root (master(8), private/tlsproxy)" >&2; exit 1; }
command -v go >/dev/null || { echo "bench.sh: Go is not installed (expected in /usr/local/go)" >&2; exit 1; }

out=${BENCH_OUT:-/tmp/tlsproxy-bench-out}
mkdir -p "$out"
bin=$(mktemp -d /tmp/tlsproxy-bench-bin.XXXXXX)
chmod 0755 "$bin"
trap 'rm -rf "$bin"' EXIT

echo "== installing Debian's postfix and openssl (if missing)"
scripts/install-deps.sh
deb13=()
if [ "${BENCH_DEB13:-1}" != 0 ]; then
    echo "== making the Debian 13 tree (scripts/debian13.sh)"
    if root13=$(scripts/debian13.sh | tail -n 1) && [ -x "$root13/usr/lib/postfix/sbin/tlsproxy" ]; then
        deb13=(-deb13 "$root13")
    else
        echo "bench.sh: no Debian 13 tree: measuring against Debian 12's C tlsproxy only" >&2
    fi
fi
echo "== building ./cmd/tlsproxy and ./cmd/tlsproxy-bench"
go build -tags "$(scripts/build-tags.sh)" -o "$bin/tlsproxy" ./cmd/tlsproxy
go build -o "$bin/tlsproxy-bench" ./cmd/tlsproxy-bench

echo "== running the comparison (progress on stderr)"
"$bin/tlsproxy-bench" -ours "$bin/tlsproxy" -c /usr/lib/postfix/sbin/tlsproxy \
    -pfinstance scripts/pfinstance.sh "${deb13[@]}" -json "$out/bench.json" -svg "$out/bench.svg" "$@" |
    tee "$out/bench.txt"
echo "== results: $out/bench.txt, $out/bench.json, $out/bench.svg"
