#!/usr/bin/env bash
# install-deps.sh — make sure this Debian machine has what the project's
# interop tests and demo need: Debian's postfix package (master, postscreen,
# smtp, tlsmgr, postlogd, tlsproxy) with its cdb, lmdb and pcre table
# modules, openssl, swaks, and the scanners and
# clients of the policy tests: sslscan and gnutls-cli (gnutls-bin); gcc and
# libssl-dev for the libcrypto build (scripts/build-tags.sh).
# Idempotent; needs root.
#
# postfix is installed without a configuration ("No configuration" in
# debconf), and no service is started while apt runs: our tests start their
# own loopback-only instances with their own config directories.
set -euo pipefail

need=()
command -v /usr/sbin/postfix >/dev/null 2>&1 || need+=(postfix)
[ -x /usr/lib/postfix/sbin/tlsproxy ] || need+=(postfix)
# cdb, lmdb and pcre tables (tls_server_sni_maps interop tests)
for t in cdb lmdb pcre; do
    [ -f /usr/lib/postfix/postfix-$t.so ] || need+=(postfix-$t)
done
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v swaks >/dev/null 2>&1 || need+=(swaks libnet-ssleay-perl libio-socket-ssl-perl)
command -v sslscan >/dev/null 2>&1 || need+=(sslscan)
command -v gnutls-cli >/dev/null 2>&1 || need+=(gnutls-bin)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -f /usr/include/openssl/evp.h ] || need+=(libssl-dev)
command -v pflogsumm >/dev/null 2>&1 || need+=(pflogsumm)   # log report comparison (internal/interop)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: need root to install: ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

# Keep invoke-rc.d from starting the system-wide Postfix during install.
placed=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    placed=1
fi
cleanup() { [ "$placed" = 1 ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT

if ! apt-cache policy postfix 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# If anything did start the system instance, stop it: tests use their own.
if [ -f /var/spool/postfix/pid/master.pid ] && postfix status >/dev/null 2>&1; then
    postfix stop >/dev/null 2>&1 || true
fi
echo "install-deps.sh: installed ${need[*]}"
