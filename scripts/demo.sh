#!/usr/bin/env bash
# demo.sh — the main job, end to end, on an embedded default configuration:
# build our tlsproxy, install Debian's postfix if missing, start a
# loopback-only Postfix instance whose tlsproxy service is our binary, run
# one STARTTLS session through postscreen(8) with openssl s_client, and show
# the SMTP dialogue and the log lines of that session. Needs root.
#
#   scripts/demo.sh            # stops the instance at the end
#   scripts/demo.sh --keep     # leaves it running in /tmp/tlsproxy-demo
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
keep=no
[ "${1:-}" = --keep ] && keep=yes

dir=/tmp/tlsproxy-demo
bin=/tmp/tlsproxy-demo-bin/tlsproxy

echo "== installing Debian's postfix, openssl, swaks (if missing)"
scripts/install-deps.sh
echo "== building ./cmd/tlsproxy"
mkdir -p "$(dirname "$bin")"
go build -tags "$(scripts/build-tags.sh)" -o "$bin" ./cmd/tlsproxy

echo "== starting a loopback Postfix whose tlsproxy is $bin"
scripts/pfinstance.sh start "$dir" --tlsproxy "$bin"
# shellcheck disable=SC1091
. "$dir/instance.env"
[ "$keep" = yes ] || trap 'scripts/pfinstance.sh stop "$dir" >/dev/null' EXIT

echo "== STARTTLS through postscreen on 127.0.0.1:$PF_POSTSCREEN_PORT (openssl s_client)"
off=$(stat -c %s "$PF_LOG")
# One command at a time after the handshake (postscreen tests for
# pipelining); wait out postscreen's greet delay first.
{ sleep 3; printf 'EHLO demo.example\n'; sleep 1; printf 'QUIT\n'; sleep 1; } |
    timeout 30 openssl s_client -starttls smtp -connect "127.0.0.1:$PF_POSTSCREEN_PORT" -crlf \
        -CAfile "$PF_CERT" -verify_return_error -nocommands -brief 2>&1 | sed 's/^/   | /'

# Wait (bounded) for the session's last tlsproxy line.
for _ in $(seq 1 50); do
    tail -c +"$((off + 1))" "$PF_LOG" | grep -q 'postfix/tlsproxy\[[0-9]*\]: DISCONNECT' && break
    sleep 0.1
done
echo "== log lines of this session ($PF_LOG)"
tail -c +"$((off + 1))" "$PF_LOG" | grep -E 'postfix/(postscreen|tlsproxy)\[' | sed 's/^/   | /'
if tail -c +"$((off + 1))" "$PF_LOG" | grep -q 'postfix/tlsproxy\[[0-9]*\]: .*TLS connection established from'; then
    echo "== OK: our tlsproxy did the TLS for postscreen"
else
    echo "== FAILED: no 'TLS connection established' line from tlsproxy" >&2
    exit 1
fi
[ "$keep" = yes ] && echo "instance left running: scripts/pfinstance.sh stop $dir"
exit 0
