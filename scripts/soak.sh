#!/usr/bin/env bash
# soak.sh — build tlsproxy and tlsproxy-soak, start a loopback Postfix
# instance whose tlsproxy is ours (scripts/pfinstance.sh), and drive
# STARTTLS sessions through postscreen for a while; prints sessions,
# bytes, errors by kind and tlsproxy's memory and descriptors over time.
#
#   scripts/soak.sh                      # 10 minutes (the long setting)
#   SOAK_DURATION=20s scripts/soak.sh    # the CI setting
#   SOAK_CONCURRENCY=32 SOAK_JSON=soak.json scripts/soak.sh
#
# Needs root and Debian's postfix (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

duration=${SOAK_DURATION:-10m}
concurrency=${SOAK_CONCURRENCY:-8}
interval=${SOAK_INTERVAL:-}
if [ -z "$interval" ]; then
    case $duration in
    *m | *h) interval=30s ;;
    *) interval=5s ;;
    esac
fi

bin=$(mktemp -d /tmp/tlsproxy-soak-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 0755 "$bin" # master runs the binary as root, tlsproxy drops to postfix
go build -tags "$(scripts/build-tags.sh)" -o "$bin/tlsproxy" ./cmd/tlsproxy
go build -o "$bin/tlsproxy-soak" ./cmd/tlsproxy-soak
args=(-tlsproxy "$bin/tlsproxy" -script scripts/pfinstance.sh
    -duration "$duration" -concurrency "$concurrency" -interval "$interval")
if [ -n "${SOAK_JSON:-}" ]; then
    args+=(-json "$SOAK_JSON")
fi
"$bin/tlsproxy-soak" "${args[@]}"
