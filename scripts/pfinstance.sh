#!/usr/bin/env bash
# pfinstance.sh — run a throwaway, loopback-only Debian Postfix instance whose
# tlsproxy(8) service is a binary of our choice (ours or Debian's), so the
# interop tests (internal/interop) and the demo can watch it work under the
# real master(8), postscreen(8) and smtp(8).
#
#   pfinstance.sh start DIR --tlsproxy PATH [--chroot y|n]
#                 [--tlsproxy-args "ARGS"] [--main "name = value"]...
#                 [--ports PS,SINK,SUBMIT]
#                 [--sink-cert FILE --sink-key FILE] [--master-line "LINE"]...
#                 [--transport-maps "VALUE"] [--root TREE]
#   pfinstance.sh stop DIR
#
# --sink-cert/--sink-key give the SINK smtpd its own certificate and key
# (default: the instance's self-signed tls/cert.pem); --master-line appends
# LINE verbatim to master.cf (repeatable; e.g. more sinks or transports);
# --transport-maps replaces main.cf's transport_maps value (default: mail
# to sink.test goes to SINK), without a second, overriding entry.
#
# --root TREE runs another Debian release's Postfix (master, every daemon,
# and its tlsproxy when PATH is TREE/usr/lib/postfix/sbin/tlsproxy) under
# chroot(8) in TREE, e.g. the Debian 13 tree of scripts/debian13.sh. DIR
# must then be inside TREE (e.g. TREE/tmp/X); PATH is copied into the
# instance; paths given here stay host paths (TREE/...) and are written
# into main.cf and master.cf without the TREE prefix. instance.env keeps
# host paths and adds PF_ROOT. "stop" finds TREE by itself.
#
# Layout of DIR (its parent must be searchable by user postfix, e.g. /tmp/X):
#   etc/      config_directory: main.cf, master.cf (rewritten on every start)
#   spool/    queue_directory, and tlsproxy's chroot jail with --chroot y
#   data/     data_directory
#   libexec/  daemon_directory: copies of /usr/lib/postfix/sbin/*, except that
#             libexec/tlsproxy is a symlink to PATH. master(8) always runs
#             daemon_directory/COMMAND; an absolute path in master.cf's
#             command field does not work.
#   tls/      self-signed cert.pem/key.pem for localhost and 127.0.0.1
#   log/maillog  written by postlogd(8) (maillog_file; no syslog needed)
#   instance.env PF_* variables (ports, paths) for tests to read
#
# Services, all on 127.0.0.1:
#   PS      postscreen with deep protocol tests and no cache or allowlist, so
#           every client stays in postscreen's built-in SMTP engine and every
#           STARTTLS there is handed to tlsproxy (server role)
#   SINK    smtpd doing its own STARTTLS, discards all mail
#   SUBMIT  plain smtpd; mail to @sink.test goes out via the "sinkrelay"
#           smtp(8) transport with smtp_tls_connection_reuse=yes, i.e. through
#           tlsproxy in the client role, to SINK
set -euo pipefail

PROG=pfinstance.sh
die() { echo "$PROG: $*" >&2; exit 1; }
usage() {
    sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- helpers

# ROOT is the tree of --root ("" = this machine). run runs a command in
# it; inner turns a host path under ROOT into the tree's path.
ROOT=""
run() { if [ -n "$ROOT" ]; then chroot "$ROOT" "$@"; else "$@"; fi; }
inner() { if [ -n "$ROOT" ]; then echo "${1#"$ROOT"}"; else echo "$1"; fi; }

require_postfix() {
    [ "$(id -u)" = 0 ] || die "must run as root (Postfix's master(8) runs as root)"
    if [ ! -x "$ROOT/usr/sbin/postfix" ] || [ ! -x "$ROOT/usr/lib/postfix/sbin/master" ] ||
        ! run getent passwd postfix >/dev/null; then
        [ -n "$ROOT" ] && die "Postfix is not installed in $ROOT: run scripts/debian13.sh"
        die "Postfix is not installed: run scripts/install-deps.sh"
    fi
    command -v openssl >/dev/null || die "openssl is not installed: run scripts/install-deps.sh"
    if [ -n "$ROOT" ]; then  # what Postfix and libc want in the tree
        mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
        mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
    fi
}

# port_listening PORT: is something listening on 127.0.0.1:PORT? Reading
# /proc/net/tcp avoids a test connection, which postscreen would log.
port_listening() {
    local want
    want=$(printf '0100007F:%04X' "$1")
    awk -v w="$want" '$2 == w && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

master_pid() {  # prints the running master's PID for queue dir $1, if any
    local f=$1/pid/master.pid pid
    [ -f "$f" ] || return 0
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

# instance_pids CONF: every process whose environment says MAIL_CONFIG=CONF
# (master passes it to all its children), except this script's own chain.
# Only shell builtins in the loop: forking per process is slow.
instance_pids() {
    local want="MAIL_CONFIG=$1" env pid p skip=" " line var
    local -a vars
    p=$$
    while [ "${p:-0}" -gt 1 ]; do
        skip+="$p "
        line=""
        while read -r var line; do
            [ "$var" = PPid: ] && break
        done <"/proc/$p/status" 2>/dev/null || true
        p=$line
    done
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}
        pid=${pid%/environ}
        [[ $skip == *" $pid "* ]] && continue
        mapfile -d '' -t vars 2>/dev/null <"$env" || continue
        for var in "${vars[@]}"; do
            if [ "$var" = "$want" ]; then
                echo "$pid"
                break
            fi
        done
    done
}

# ---------------------------------------------------------------- stop

cmd_stop() {
    [ $# -eq 1 ] || usage
    [ "$(id -u)" = 0 ] || die "must run as root"
    if [ ! -d "$1" ]; then
        echo "$PROG: $1 does not exist; nothing to stop"
        return 0
    fi
    local dir conf pid left i
    dir=$(cd "$1" && pwd -P)
    conf=$dir/etc
    [ -f "$dir/tree" ] && ROOT=$(cat "$dir/tree")
    pid=$(master_pid "$dir/spool")
    if [ -n "$pid" ] && [ -f "$conf/main.cf" ]; then
        run postfix -c "$(inner "$conf")" stop >/dev/null 2>&1 || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    # Whatever survived (a replacement ignoring SIGTERM, say): TERM, then KILL.
    left=$(instance_pids "$(inner "$conf")")
    if [ -n "$left" ]; then
        echo "$PROG: terminating leftover processes:" $left >&2
        kill -TERM $left 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            left=$(for p in $left; do kill -0 "$p" 2>/dev/null && echo "$p"; done || true)
            [ -z "$left" ] && break
            sleep 0.1
        done
        if [ -n "$left" ]; then
            kill -KILL $left 2>/dev/null || true
            sleep 0.2
        fi
    fi
    left=$(instance_pids "$(inner "$conf")")
    [ -z "$left" ] || die "processes of $dir still running: $left"
    echo "$PROG: stopped $dir"
}

# ---------------------------------------------------------------- start

cmd_start() {
    [ $# -ge 1 ] || usage
    local dirarg=$1
    shift
    local tlsproxy="" chroot=n extra="" ports="10125,10126,10127"
    local sinkcert="" sinkkey="" transport=""
    local -a mainx=() masterx=()
    while [ $# -gt 0 ]; do
        case $1 in
        --tlsproxy) tlsproxy=${2:?--tlsproxy needs a path}; shift 2 ;;
        --chroot) chroot=${2:?--chroot needs y or n}; shift 2 ;;
        --tlsproxy-args) extra=${2?}; shift 2 ;;
        --main) mainx+=("${2?}"); shift 2 ;;
        --ports) ports=${2:?--ports needs PS,SINK,SUBMIT}; shift 2 ;;
        --sink-cert) sinkcert=${2:?--sink-cert needs a file}; shift 2 ;;
        --sink-key) sinkkey=${2:?--sink-key needs a file}; shift 2 ;;
        --master-line) masterx+=("${2?}"); shift 2 ;;
        --transport-maps) transport=${2:?--transport-maps needs a value}; shift 2 ;;
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        *) echo "$PROG: unknown option: $1" >&2; usage ;;
        esac
    done
    if [ -n "$ROOT" ]; then
        [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
        ROOT=$(cd "$ROOT" && pwd -P)
        [ "$ROOT" != / ] || ROOT=""
    fi
    require_postfix
    [ -n "$tlsproxy" ] || die "--tlsproxy PATH is required"
    [[ $chroot == [yn] ]] || die "--chroot must be y or n"
    if [ -n "$sinkcert$sinkkey" ]; then
        [ -n "$sinkcert" ] && [ -n "$sinkkey" ] || die "--sink-cert and --sink-key go together"
        [ -r "$sinkcert" ] && [ -r "$sinkkey" ] || die "cannot read --sink-cert $sinkcert or --sink-key $sinkkey"
        [[ $sinkcert =~ ^/[A-Za-z0-9/._-]+$ && $sinkkey =~ ^/[A-Za-z0-9/._-]+$ ]] ||
            die "--sink-cert/--sink-key must be absolute paths without unusual characters"
    fi
    local ps sink submit
    IFS=, read -r ps sink submit <<<"$ports"
    local p
    for p in "$ps" "$sink" "$submit"; do
        [[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || die "bad --ports: $ports"
    done
    [ "$ps" != "$sink" ] && [ "$ps" != "$submit" ] && [ "$sink" != "$submit" ] ||
        die "--ports must be three different ports"

    [[ $tlsproxy == /* ]] || tlsproxy=$(cd "$(dirname "$tlsproxy")" && pwd -P)/$(basename "$tlsproxy")
    [ -f "$tlsproxy" ] && [ -x "$tlsproxy" ] || die "not an executable file: $tlsproxy"

    mkdir -p "$dirarg"
    local dir
    dir=$(cd "$dirarg" && pwd -P)
    # main.cf values are split on whitespace and commas: keep paths plain.
    [[ $dir =~ ^/[A-Za-z0-9/._-]+$ ]] || die "instance path has unusual characters: $dir"
    if [ -n "$ROOT" ]; then
        [[ $dir == "$ROOT"/?* ]] || die "with --root $ROOT the instance must be inside it, not $dir"
        echo "$ROOT" >"$dir/tree"  # for "stop"
    fi
    run runuser -u postfix -- test -x "$(inner "$(dirname "$dir")")" 2>/dev/null ||
        die "user postfix cannot reach $dir: use a directory under /tmp (or $ROOT/tmp)"

    local conf=$dir/etc spool=$dir/spool data=$dir/data libexec=$dir/libexec
    local tls=$dir/tls log=$dir/log/maillog
    if [ -n "$(master_pid "$spool")" ]; then
        cmd_stop "$dir" >/dev/null
    fi

    install -d -m 0755 -o root -g root "$dir" "$conf" "$spool" "$libexec" "$dir/log"
    install -d -m 0700 -o root -g root "$tls"
    # the tree's user postfix may have other IDs than this machine's
    run install -d -m 0700 -o postfix -g postfix "$(inner "$data")"

    local f
    for f in "$ROOT"/usr/lib/postfix/sbin/*; do
        [ "${f##*/}" = tlsproxy ] && continue
        cp -pf --remove-destination "$f" "$libexec/"
    done
    if [ -n "$ROOT" ]; then  # a symlink to a host path would not resolve
        cp -f --remove-destination "$tlsproxy" "$libexec/tlsproxy"
        chmod 0755 "$libexec/tlsproxy"
    else
        ln -sfn "$tlsproxy" "$libexec/tlsproxy"
    fi

    if [ ! -s "$tls/cert.pem" ] || [ ! -s "$tls/key.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
            -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$tls/key.pem" -out "$tls/cert.pem" >/dev/null 2>&1 ||
            die "openssl could not make the self-signed certificate"
        chmod 0600 "$tls/key.pem"
        chmod 0644 "$tls/cert.pem"
    fi
    touch "$log"

    write_main_cf "$conf/main.cf" "$dir" "$sink" "$transport"
    if [ ${#mainx[@]} -gt 0 ]; then
        # an --main setting replaces the default's line of the same name
        # (Postfix warns about a parameter set twice)
        local m name
        for m in "${mainx[@]}"; do
            name=$(printf '%s' "${m%%=*}" | tr -d ' \t')
            sed -i "/^$name[ \t]*=/d" "$conf/main.cf"
        done
        printf '%s\n' "# --main" "${mainx[@]}" >>"$conf/main.cf"
    fi
    write_master_cf "$conf/master.cf" "$ps" "$sink" "$submit" "$chroot" "$extra" "$sinkcert" "$sinkkey"
    if [ ${#masterx[@]} -gt 0 ]; then
        printf '%s\n' "# --master-line" "${masterx[@]}" >>"$conf/master.cf"
    fi

    # A chroot jail gets the files libc may want, as Debian's own setup does.
    if [ "$chroot" = y ]; then
        install -d -m 0755 "$spool/etc"
        for f in localtime services resolv.conf hosts nsswitch.conf host.conf; do
            [ -f "$ROOT/etc/$f" ] && cp -pf "$ROOT/etc/$f" "$spool/etc/"
        done
    fi
    # In a tree, Postfix sees it as /: drop the prefix from every path.
    if [ -n "$ROOT" ]; then
        sed -i "s#$(printf '%s' "$ROOT" | sed 's/[].[*^$#\\]/\\&/g')/#/#g" "$conf/main.cf" "$conf/master.cf"
    fi

    # postfix -c puts MAIL_CONFIG=DIR/etc into the environment that master
    # and every daemon inherit: that is how "stop" finds leftovers.
    if ! run postfix -c "$(inner "$conf")" start >"$dir/start.out" 2>&1; then
        cat "$dir/start.out" >&2
        tail -n 20 "$log" >&2 || true
        die "postfix start failed for $dir"
    fi
    local i
    for p in "$ps" "$sink" "$submit"; do
        for ((i = 0; i < 100; i++)); do
            port_listening "$p" && break
            sleep 0.1
        done
        port_listening "$p" || { tail -n 20 "$log" >&2; die "nothing listens on 127.0.0.1:$p"; }
    done

    cat >"$dir/instance.env" <<EOF
# written by scripts/pfinstance.sh start
PF_DIR=$dir
PF_CONFIG_DIR=$conf
PF_QUEUE_DIR=$spool
PF_DATA_DIR=$data
PF_DAEMON_DIR=$libexec
PF_LOG=$log
PF_CERT=$tls/cert.pem
PF_KEY=$tls/key.pem
PF_TLSPROXY=$tlsproxy
PF_CHROOT=$chroot
PF_POSTSCREEN_PORT=$ps
PF_SINK_PORT=$sink
PF_SUBMIT_PORT=$submit
PF_SINK_DOMAIN=sink.test
PF_MASTER_PID=$(master_pid "$spool")
PF_ROOT=$ROOT
EOF
    echo "$PROG: started $dir (postscreen 127.0.0.1:$ps, sink :$sink, submit :$submit, tlsproxy $tlsproxy, chroot $chroot)"
}

# write_main_cf FILE DIR SINKPORT [TRANSPORT_MAPS]
write_main_cf() {
    local dir=$2 transport=${4:-"inline:{ sink.test=sinkrelay:[127.0.0.1]:$3 }"}
    cat >"$1" <<EOF
# written by scripts/pfinstance.sh start; rewritten on every start
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
daemon_directory = $dir/libexec
mail_owner = postfix
setgid_group = postdrop
myhostname = interop.localdomain
mydomain = localdomain
myorigin = \$myhostname
smtpd_banner = \$myhostname ESMTP pfinstance

# loopback only, no DNS, no local delivery; only sink.test is relayed
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_bind_address = 127.0.0.1
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
mydestination =
alias_maps =
alias_database =
relay_domains = sink.test
transport_maps = $transport
local_transport = error:5.7.1 no local delivery in this test instance
default_transport = error:5.7.1 this test instance relays only to sink.test
biff = no
smtputf8_enable = no

# logging through postlogd(8) into our own file
maillog_file = $dir/log/maillog
maillog_file_prefixes = $dir, /var, /dev/stdout

# TLS. smtpd_tls_* also feeds tlsproxy's server role (tlsproxy_tls_*),
# smtp_tls_* its client role (tlsproxy_client_*).
smtpd_tls_cert_file = $dir/tls/cert.pem
smtpd_tls_key_file = $dir/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_loglevel = 1
connection_cache_ttl_limit = 5s

# postscreen: nobody is allowlisted or cached, and the deep protocol tests
# keep every client in postscreen's own SMTP engine, which uses tlsproxy
postscreen_access_list =
postscreen_dnsbl_sites =
postscreen_cache_map =
postscreen_greet_wait = 1s
postscreen_pipelining_enable = yes
postscreen_non_smtp_command_enable = yes
postscreen_bare_newline_enable = yes
postscreen_tls_security_level = may
EOF
}

# write_master_cf FILE PS SINK SUBMIT CHROOT EXTRA [SINKCERT SINKKEY]
write_master_cf() {
    local sinktls=""
    if [ -n "${7:-}" ]; then
        sinktls="
  -o smtpd_tls_cert_file=$7
  -o smtpd_tls_key_file=$8"
    fi
    cat >"$1" <<EOF
# written by scripts/pfinstance.sh start; rewritten on every start
# service    type  private unpriv chroot wakeup maxproc command
127.0.0.1:$2 inet  n       -      n      -      1       postscreen
smtpd        pass  -       -      n      -      -       smtpd
  -o syslog_name=postfix/ps-smtpd
tlsproxy     unix  -       -      $5      -      0       tlsproxy $6
dnsblog      unix  -       -      n      -      0       dnsblog
127.0.0.1:$3 inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/sink
  -o content_filter=discard:sink$sinktls
127.0.0.1:$4 inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/submit
  -o smtpd_tls_security_level=none
sinkrelay    unix  -       -      n      -      -       smtp
  -o syslog_name=postfix/sinkrelay
  -o smtp_tls_security_level=may
  -o smtp_tls_connection_reuse=yes
  -o smtp_connection_cache_destinations=127.0.0.1
  -o smtp_connection_cache_time_limit=5s
pickup       unix  n       -      n      60     1       pickup
cleanup      unix  n       -      n      -      0       cleanup
qmgr         unix  n       -      n      300    1       qmgr
tlsmgr       unix  -       -      n      1000?  1       tlsmgr
rewrite      unix  -       -      n      -      -       trivial-rewrite
bounce       unix  -       -      n      -      0       bounce
defer        unix  -       -      n      -      0       bounce
trace        unix  -       -      n      -      0       bounce
verify       unix  -       -      n      -      1       verify
flush        unix  n       -      n      1000?  0       flush
proxymap     unix  -       -      n      -      -       proxymap
proxywrite   unix  -       -      n      -      1       proxymap
smtp         unix  -       -      n      -      -       smtp
relay        unix  -       -      n      -      -       smtp
showq        unix  n       -      n      -      -       showq
error        unix  -       -      n      -      -       error
retry        unix  -       -      n      -      -       error
discard      unix  -       -      n      -      -       discard
anvil        unix  -       -      n      -      1       anvil
scache       unix  -       -      n      -      1       scache
postlog      unix-dgram n  -      n      -      1       postlogd
EOF
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || usage
case $1 in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) usage ;;
esac
