#!/usr/bin/env bash
# deb.sh — build the Debian package of our tlsproxy with one command:
#
#   scripts/deb.sh            # -> dist/tlsproxy-go_VERSION_ARCH.deb
#   DEB_VERSION=1.0 scripts/deb.sh
#
# The package installs our tlsproxy as /usr/lib/postfix/sbin/tlsproxy and
# our manual page as tlsproxy(8postfix), after moving Postfix's own files
# aside with dpkg-divert (to tlsproxy.postfix), so that upgrades of the
# postfix package keep ours in place; removing the package puts Postfix's
# files back. It also installs /usr/sbin/tlsproxy-policy. When Postfix
# runs, installing and removing it does "postfix reload". Purging removes
# the files tlsproxy made at run time ($data_directory/tlsproxy-postfix-version).
#
# Built with -tags libcrypto when this machine can (scripts/build-tags.sh),
# and with -buildvcs (and no -trimpath, which would drop -ldflags from the
# build information), so that "go version -m" and "tlsproxy --version" name
# the commit. Needs go, git and dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
PROG=deb.sh
die() { echo "$PROG: $*" >&2; exit 1; }
for c in go git dpkg-deb dpkg; do
    command -v "$c" >/dev/null || die "$c is missing"
done

pkgname=tlsproxy-go
arch=$(dpkg --print-architecture)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
stamp=$(git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
version=${DEB_VERSION:-0.1~git$stamp.${commit:0:12}}
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "not a Debian version: $version"
tags=$(scripts/build-tags.sh)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d "$root/DEBIAN" "$root/usr/lib/postfix/sbin" "$root/usr/sbin" \
    "$root/usr/share/man/man8" "$root/usr/share/doc/$pkgname"

# GOFLAGS may say -buildvcs=false; this build wants the commit recorded.
build() {
    GOFLAGS= go build -buildvcs=true -tags "$tags" \
        -ldflags "-X main.release=$version -X main.commit=$commit" -o "$1" "$2"
}
build "$root/usr/lib/postfix/sbin/tlsproxy" ./cmd/tlsproxy
build "$root/usr/sbin/tlsproxy-policy" ./cmd/tlsproxy-policy
gzip -9n < man/tlsproxy.8 > "$root/usr/share/man/man8/tlsproxy.8postfix.gz"
cat > "$root/usr/share/doc/$pkgname/README.Debian" <<DOC
tlsproxy-go for Debian
======================

This package replaces Postfix's tlsproxy(8) with the Go re-implementation
built from commit $commit (build tags: ${tags:-none}).

Postfix's own program and manual page are diverted to
/usr/lib/postfix/sbin/tlsproxy.postfix and
/usr/share/man/man8/tlsproxy.postfix.8postfix.gz ("dpkg-divert --list
tlsproxy*"); removing this package restores them. To go back for a moment
without removing the package, point master.cf's tlsproxy service at
tlsproxy.postfix and run "postfix reload".

See tlsproxy(8postfix) for what differs from Postfix's tlsproxy, and
"tlsproxy-policy -h" for the policy report and monitoring check.
DOC
chmod 0644 "$root/usr/share/doc/$pkgname/README.Debian"

# Run-time libraries -> packages (e.g. libc6, libssl3 or libssl3t64).
depends=postfix
for lib in $(ldd "$root/usr/lib/postfix/sbin/tlsproxy" 2>/dev/null | awk '$3 ~ /^\// {print $3}'); do
    real=$(readlink -f "$lib")
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
    owner=${owner%%:*}
    [ -n "$owner" ] && [[ ",$depends," != *", $owner,"* ]] && [ "$owner" != postfix ] && depends="$depends, $owner"
done

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CTL
Package: $pkgname
Version: $version
Architecture: $arch
Maintainer: tlsproxy in Go <postmaster@localhost>
Depends: $depends
Section: mail
Priority: optional
Installed-Size: $size
Description: Postfix tlsproxy(8) re-implemented in Go
 A memory-safe replacement for Postfix's tlsproxy: the daemon that does
 TLS for postscreen(8) and for smtp(8)'s TLS connection reuse. It runs
 under master(8) where Postfix's own program runs, reads the same
 parameters and logs the same lines. Postfix's program is diverted and
 comes back when this package is removed.
CTL

divert() { # ACTION FILE DIVERTED
    echo "dpkg-divert --package $pkgname --$1 --rename --divert $3 $2"
}
prog=/usr/lib/postfix/sbin/tlsproxy
man=/usr/share/man/man8/tlsproxy.8postfix.gz
reload='if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then
    /usr/sbin/postfix reload || true
fi'

cat > "$root/DEBIAN/preinst" <<SH
#!/bin/sh
set -e
case "\$1" in
install|upgrade)
    $(divert add $prog $prog.postfix)
    $(divert add $man ${man%.8postfix.gz}.postfix.8postfix.gz)
    ;;
esac
exit 0
SH

cat > "$root/DEBIAN/postinst" <<SH
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
    $reload
fi
exit 0
SH

cat > "$root/DEBIAN/postrm" <<SH
#!/bin/sh
set -e
case "\$1" in
remove|abort-install|disappear)
    $(divert remove $prog $prog.postfix)
    $(divert remove $man ${man%.8postfix.gz}.postfix.8postfix.gz)
    $reload
    ;;
purge)
    # What tlsproxy wrote at run time: the cached Postfix release.
    for dir in /var/lib/postfix \$(postconf -h data_directory 2>/dev/null || true); do
        rm -f "\$dir/tlsproxy-postfix-version" "\$dir"/tlsproxy-postfix-version.*
    done
    ;;
esac
exit 0
SH
chmod 0755 "$root/DEBIAN/preinst" "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

mkdir -p dist
out=dist/${pkgname}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
