#!/usr/bin/env bash
# debian13.sh — a minimal Debian 13 (trixie) tree, made with debootstrap, in
# which the interop tests run Debian 13's Postfix (3.10) and its C tlsproxy
# under chroot(8) on this (Debian 12) machine.
#
#   debian13.sh [create]   make the tree if it is missing or incomplete
#                          (idempotent; prints its path), then mount
#   debian13.sh mount      mount /proc and bind /dev into the tree (idempotent)
#   debian13.sh umount     undo "mount" (fails if something still uses them)
#   debian13.sh remove     umount, then delete the tree
#   debian13.sh root       print the tree's path (made or not)
#   debian13.sh check      exit 0 if the tree is complete, 1 if not
#
# Environment:
#   TLSPROXY_DEB13_ROOT    the tree (default /var/lib/tlsproxy-test/trixie);
#                          outside any checkout, shared by every worktree
#   TLSPROXY_DEB13_MIRROR  the archive URL; by default the URI of this
#                          machine's apt source for its own release, read
#                          from /etc/apt/sources.list.d/*.sources or
#                          sources.list at run time
#
# The tree holds postfix (with the cdb, lmdb and pcre table types) and
# openssl, installed as debconf's "No configuration" choice: no main.cf in
# the tree's /etc/postfix, and /usr/sbin/policy-rc.d in the tree keeps any
# package script from starting a service. Tests run their own instances
# with their own config and queue directories inside the tree (see
# scripts/pfinstance.sh --root). Needs root. A half-made tree (an
# interrupted run) is built again from scratch; so is one made for another
# package list. The tree is built under ROOT.new and renamed when complete,
# so a user never sees a half-made tree at ROOT.
set -euo pipefail

PROG=debian13.sh
SUITE=trixie
# What the interop tests need in the tree. Changing this list makes the
# next "create" build the tree again.
INCLUDE=postfix,postfix-cdb,postfix-lmdb,postfix-pcre,openssl,ca-certificates
STAMP_NAME=.tlsproxy-debian13
STAMP_TEXT="suite=$SUITE include=$INCLUDE v=1"

ROOT=${TLSPROXY_DEB13_ROOT:-/var/lib/tlsproxy-test/trixie}
ROOT=${ROOT%/}

die() { echo "$PROG: $*" >&2; exit 1; }
usage() { sed -n '6,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $ROOT == /?* && $ROOT =~ ^/[A-Za-z0-9/._-]+$ ]] ||
    die "TLSPROXY_DEB13_ROOT must be an absolute path without unusual characters: $ROOT"

complete() {  # is tree $1 complete and made for this package list?
    [ -f "$1/$STAMP_NAME" ] && [ "$(cat "$1/$STAMP_NAME")" = "$STAMP_TEXT" ] &&
        [ -x "$1/usr/sbin/postconf" ] && [ -x "$1/usr/lib/postfix/sbin/tlsproxy" ] &&
        [ -x "$1/usr/bin/openssl" ]
}

# mounted_under DIR: the mount points at or below DIR, deepest first.
mounted_under() {
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

do_umount() {  # unmount everything under tree $1
    local m
    for m in $(mounted_under "$1"); do
        umount "$m" || die "cannot unmount $m (still in use?)"
    done
}

do_mount() {  # mount /proc and bind /dev into tree $1, if not yet
    local r=$1
    mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
    mountpoint -q "$r/dev" || mount --bind /dev "$r/dev"
}

# remove_tree DIR: unmount and delete; never crosses into a mounted
# file system, so a /dev bind that could not be unmounted stays intact.
remove_tree() {
    [ -e "$1" ] || return 0
    do_umount "$1"
    rm -rf --one-file-system "$1"
}

# mirror_url: the URI of the apt source serving this machine's own release
# (its codename as a suite, not -updates or -security).
mirror_url() {
    if [ -n "${TLSPROXY_DEB13_MIRROR:-}" ]; then
        echo "${TLSPROXY_DEB13_MIRROR%/}"
        return
    fi
    local codename f uri=""
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release; set TLSPROXY_DEB13_MIRROR"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822 stanzas, separated by blank lines
        uri=$(awk -v c="$codename" '
            function flush() { if (isdeb && hassuite && u != "" && out == "") out = u; isdeb = hassuite = 0; u = "" }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == c) hassuite = 1 }
            tolower($1) == "uris:" { u = $2 }
            END { flush(); print out }' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            uri=$(awk -v c="$codename" '
                $1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                              if ($(i+1) == c) { print $i; exit } }' "$f")
            [ -n "$uri" ] && break
        done
    fi
    [ -n "$uri" ] || die "no apt source for $codename found in /etc/apt; set TLSPROXY_DEB13_MIRROR"
    echo "${uri%/}"
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# lock: one create or remove at a time (tests of several worktrees may
# ask for the tree at once).
lock() {
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$ROOT.lock"
    flock 9
}

cmd_create() {
    need_root
    complete "$ROOT" && { do_mount "$ROOT"; echo "$ROOT"; return 0; }
    lock
    if complete "$ROOT"; then
        do_mount "$ROOT"
        echo "$ROOT"
        return 0
    fi
    if [ -e "$ROOT" ]; then
        echo "$PROG: $ROOT is incomplete or was made for another package list; making it again" >&2
        remove_tree "$ROOT"
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "$PROG: installing debootstrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            debootstrap debian-archive-keyring >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends debootstrap debian-archive-keyring >/dev/null; } ||
            die "cannot install debootstrap"
    fi
    local mirror new=$ROOT.new start=$SECONDS
    mirror=$(mirror_url)
    remove_tree "$new"
    mkdir -p "$(dirname "$ROOT")"
    echo "$PROG: debootstrap $SUITE into $new (minbase + $INCLUDE)" >&2
    # Package scripts run non-interactively; postfix's is told below to
    # leave its configuration alone, and invoke-rc.d starts nothing
    # (debootstrap places its own policy-rc.d while it installs).
    if ! DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase \
        --include="$INCLUDE" --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$new" "$mirror" >"$new.log" 2>&1; then
        tail -n 30 "$new.log" >&2
        [ -f "$new/debootstrap/debootstrap.log" ] && tail -n 30 "$new/debootstrap/debootstrap.log" >&2
        remove_tree "$new"
        die "debootstrap failed (log above; full log in $new.log)"
    fi
    # No service is ever started inside the tree by a package script.
    printf '#!/bin/sh\n# debian13.sh: no service starts in this tree\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
    chmod 755 "$new/usr/sbin/policy-rc.d"
    # "No configuration": record the choice (a later dpkg-reconfigure keeps
    # it) and drop what the default choice wrote; tests bring their own.
    echo "postfix postfix/main_mailer_type select No configuration" |
        chroot "$new" debconf-set-selections
    rm -f "$new/etc/postfix/main.cf" "$new/etc/mailname"
    # The downloaded packages are not needed any more.
    rm -f "$new"/var/cache/apt/archives/*.deb
    do_umount "$new"
    echo "$STAMP_TEXT" >"$new/$STAMP_NAME"
    complete "$new" || die "the tree in $new lacks postfix or openssl after debootstrap"
    mv "$new" "$ROOT"
    mv "$new.log" "$ROOT/debootstrap.log" 2>/dev/null || true
    do_mount "$ROOT"
    echo "$PROG: made $ROOT in $((SECONDS - start)) s: $(chroot "$ROOT" postconf -d -h mail_version | sed 's/^/Postfix /'), $(chroot "$ROOT" openssl version)" >&2
    echo "$ROOT"
}

case ${1:-create} in
create) cmd_create ;;
mount) need_root; complete "$ROOT" || die "$ROOT is not complete: run $PROG create"; do_mount "$ROOT" ;;
umount) need_root; [ -d "$ROOT" ] && do_umount "$ROOT"; true ;;
remove) need_root; lock; remove_tree "$ROOT"; remove_tree "$ROOT.new"; rm -f "$ROOT.new.log" ;;
root) echo "$ROOT" ;;
check) complete "$ROOT" ;;
*) usage ;;
esac
