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
// instance started with scripts/pfinstance.sh (Debian 13's under chroot
// in its tree, with its own master). The instance's tlsproxy service has
// Postfix's default settings (max_use = 100, max_idle = 100s): the
// headline figures; two more services give the extra rows: tlsproxy-long
// (max_use = 1,000,000, max_idle = 3600s: no process start in the
// figures) and tlsproxy-once (max_use = 1: every session pays a process
// start). Under a closed loop of 8 sessions at a time a multi-server
// process past max_use rarely has no client, which is when it exits, so
// the headline CPU figure is also measured with sessions arriving at a
// fixed rate (Paced), where processes do end every max_use sessions.
//
// CPU figures count every tlsproxy process, including those that ended:
// the growth of the live ones' utime+stime (/proc/PID/stat), all of the
// new ones', and the growth of master's cutime+cstime, which is where the
// kernel adds a child's CPU time when master reaps it, less what the ended
// ones had used before the measurement (see Usage). Nothing else of the
// instance ends during a measurement (the bench plays postscreen and smtp
// itself); a figure during which another child of master ended says so in
// a note. Memory figures are the summed RSS of every tlsproxy process.
//
// The package is a measuring tool, not part of the daemon: it is used by
// cmd/tlsproxy-bench and by scripts/bench.sh.
package bench
