#!/usr/bin/env bash
# deb-test.sh — the Debian package cycle, on this machine's real Postfix:
# build the package (scripts/deb.sh), install it, reinstall the postfix
# package as a security update would (ours must stay), purge it (Postfix's
# own tlsproxy and manual page must be back, "dpkg --verify postfix" as
# clean as before, no file of ours left). The machine's Postfix files are
# left exactly as they were: checked at the end, and on any failure the
# package is purged.
#
#   flock /tmp/interop.lock scripts/deb-test.sh     # as root (scripts/test.sh)
#
# Take /tmp/interop.lock: while our package is installed,
# /usr/lib/postfix/sbin/tlsproxy is ours, and interop tests use that path
# as "Debian's tlsproxy".
set -euo pipefail
cd "$(dirname "$0")/.."
PROG=deb-test.sh
pkg=tlsproxy-go
prog=/usr/lib/postfix/sbin/tlsproxy
man=/usr/share/man/man8/tlsproxy.8postfix.gz
fail() { echo "$PROG: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root"
dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed' || fail "Debian's postfix is not installed"
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed'; then
    fail "$pkg is already installed here; this test would remove it"
fi

# state: what must be the same before and after.
state() {
    sha256sum "$prog" "$man"
    dpkg-divert --list | sort
    dpkg --verify postfix || true
    dpkg-query -W -f='${Package} ${Version} ${Status}\n' postfix
    find /etc/postfix -type f -print0 | sort -z | xargs -0 sha256sum
}
before=$(state)
orig_sum=$(sha256sum < "$prog")

export DEBIAN_FRONTEND=noninteractive
placed=0
cleanup() {
    local rc=$?
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed\|half\|unpacked'; then
        echo "$PROG: purging $pkg after a failure" >&2
        dpkg --purge "$pkg" >/dev/null 2>&1 || true
    fi
    [ "$placed" = 1 ] && rm -f /usr/sbin/policy-rc.d
    exit "$rc"
}
trap cleanup EXIT

echo "== build"
deb=$(scripts/deb.sh | tail -1)
[ -f "$deb" ] || fail "deb.sh made no package"
echo "$deb"

echo "== install"
dpkg -i "$deb" >/dev/null
# Printed through the shell's own stderr: reopening /dev/stderr (tee
# /dev/stderr) would truncate a log file that stderr is redirected to.
version=$("$prog" --version) || fail "$prog --version failed"
printf '%s\n' "$version" >&2
grep -q "^tlsproxy (Go re-implementation" <<<"$version" || fail "$prog is not ours after install"
"$prog" --version | grep -q '^commit: [0-9a-f]\{40\}' || fail "--version names no commit"
go_m=$(PATH=/usr/local/go/bin:$PATH go version -m "$prog")
# vcs.revision where go build finds the repository (-buildvcs; not in a
# git worktree, whose .git is a file), else deb.sh's -X main.commit=.
commit=$("$prog" --version | sed -n 's/^commit: \([0-9a-f]\{40\}\).*/\1/p')
grep -q "vcs.revision=$commit\|main.commit=$commit" <<<"$go_m" || fail "go version -m shows no commit $commit"
[ "$(sha256sum < "$prog.postfix")" = "$orig_sum" ] || fail "Postfix's tlsproxy is not at $prog.postfix"
zcat "$man" | grep -q 'tlsproxy in Go' || fail "tlsproxy(8postfix) is not ours"
[ -f /usr/share/man/man8/tlsproxy.postfix.8postfix.gz ] || fail "Postfix's manual page was not diverted"
[ -x /usr/sbin/tlsproxy-policy ] || fail "no tlsproxy-policy"
[ -z "$(dpkg --verify postfix)" ] || fail "dpkg --verify postfix with ours installed: $(dpkg --verify postfix)"
[ -z "$(dpkg --verify "$pkg")" ] || fail "dpkg --verify $pkg: $(dpkg --verify "$pkg")"

echo "== reinstall postfix (as a security update does)"
if [ ! -e /usr/sbin/policy-rc.d ]; then # keep the system Postfix from being (re)started
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    placed=1
fi
pfver=$(dpkg-query -W -f='${Version}' postfix)
if ! apt-get install -y -qq --reinstall "postfix=$pfver" >/dev/null 2>&1; then
    cached=$(ls /var/cache/apt/archives/postfix_"${pfver/*:/}"_*.deb 2>/dev/null | head -1)
    [ -n "$cached" ] || fail "cannot reinstall postfix $pfver (no archive access, nothing cached)"
    dpkg -i "$cached" >/dev/null
fi
"$prog" --version | grep -q "^tlsproxy (Go re-implementation" || fail "reinstalling postfix replaced ours"
[ "$(sha256sum < "$prog.postfix")" = "$orig_sum" ] || fail "the reinstalled Postfix tlsproxy is not at $prog.postfix"
zcat "$man" | grep -q 'tlsproxy in Go' || fail "reinstalling postfix replaced our manual page"
[ -z "$(dpkg --verify postfix)" ] || fail "dpkg --verify postfix after reinstall: $(dpkg --verify postfix)"

echo "== purge"
# A cache file as tlsproxy writes it at run time: purge must remove it.
datadir=$(postconf -h data_directory 2>/dev/null || postconf -dh data_directory)
[ -e "$datadir/tlsproxy-postfix-version" ] && cp -p "$datadir/tlsproxy-postfix-version" /tmp/deb-test.cache.$$
echo "3.7.11 test" > "$datadir/tlsproxy-postfix-version"
dpkg --purge "$pkg" >/dev/null
[ ! -e "$datadir/tlsproxy-postfix-version" ] || fail "purge left $datadir/tlsproxy-postfix-version"
if [ -e /tmp/deb-test.cache.$$ ]; then mv /tmp/deb-test.cache.$$ "$datadir/tlsproxy-postfix-version"; fi
[ "$(sha256sum < "$prog")" = "$orig_sum" ] || fail "Postfix's tlsproxy is not back at $prog"
for f in "$prog.postfix" /usr/share/man/man8/tlsproxy.postfix.8postfix.gz /usr/sbin/tlsproxy-policy /usr/share/doc/$pkg; do
    [ ! -e "$f" ] || fail "purge left $f"
done
after=$(state)
if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "the machine's Postfix differs from before the test"
fi
[ -z "$(dpkg --verify postfix)" ] || fail "dpkg --verify postfix after purge: $(dpkg --verify postfix)"
echo "== package cycle passed"
