// Package bench measures a tlsproxy(8) the way an operator would judge it:
// it plays both ends of a postscreen(8) STARTTLS session against the
// tlsproxy socket of a running Postfix instance and reports, for two
// implementations side by side (ours and Debian's C tlsproxy), full and
// resumed handshakes per second, bulk relay throughput, the round-trip
// latency the proxy adds, CPU time per handshake and resident memory per
// idle session; and the same kinds of figure for the client role, where it
// plays smtp(8) with connection reuse and the remote SMTP server.
//
// What it mirrors of Postfix: the postscreen(8) side of the tlsproxy
// protocol, as internal/pfclient plays it for a chosen release (default
// 3.7.11, Debian 12's; for 3.6 and later: read the
// {protocol=tlsproxy_protocol} announcement, send {remote_endpoint,
// flags=1, timeout, timeout, serverid=smtpd}, read {status}, pass the remote
// client's TCP socket with SCM_RIGHTS), then plaintext on the UNIX socket.
// The remote SMTP client is played with crypto/tls (X25519 and P-256 only,
// as Debian 12's OpenSSL 3.0 clients offer) on the other end of that TCP
// socket.
//
// The client role mirrors smtp(8) of the same release with
// smtp_tls_connection_reuse: the request with flags 6 and the
// TLS_CLIENT_PARAMS, INIT_PROPS and START_PROPS list at postconf -d values
// and level may (init props log_level = the instance's smtp_tls_loglevel,
// no certificate or CA files, so that they match tlsproxy's own
// tlsproxy_client_* settings), {status}, the descriptor, then the TLS
// context (22 attributes for 3.7) and plaintext. The remote SMTP server is
// crypto/tls with an ECDSA P-256 certificate, TLS 1.3, X25519 or P-256 and
// no session tickets, so that every handshake is a full one.
//
// Each tlsproxy runs under Debian's real master(8) in a loopback
// instance started with scripts/pfinstance.sh.
//
// CPU and memory figures come from /proc/PID/stat of every tlsproxy
// child of the instance's master(8), so a design with several processes
// (or one that master restarts) is charged for all of them.
//
// The package is a measuring tool, not part of the daemon: it is used by
// cmd/tlsproxy-bench and by scripts/bench.sh.
package bench
