// Package interop runs our tlsproxy under Debian's Postfix.
//
// It holds only tests. They start throwaway loopback Postfix instances with
// scripts/pfinstance.sh, once with Debian's own /usr/lib/postfix/sbin/tlsproxy
// and once with the binary built from tlsproxy/cmd/tlsproxy, and drive
// STARTTLS through postscreen(8), which hands the TLS handshake and the
// encrypted session to tlsproxy(8) (the server role). The same table of
// maillog expectations (CONNECT, "TLS connection established", DISCONNECT,
// "TLS handshake failed", no warnings) must hold for both binaries, so a
// regular expression that fails for Debian's tlsproxy is a bug in the test,
// and one that fails only for ours is a behaviour we do not yet mirror. A
// chroot variant checks the privileges the running daemon ends up with
// (user and group postfix, root directory = queue directory).
//
// Further files cover the rest of what an operator sees: the server TLS
// policy (sslscan and a client matrix of openssl, gnutls-cli, swaks and Go
// against what tlsproxy-policy predicts, and client certificates),
// session resumption through tlsmgr(8) across tlsproxy processes, and the
// client role (mail relayed by smtp(8) and lmtp(8) with connection reuse
// through tlsproxy to a TLS sink), and both roles over IPv6 loopback.
//
// The tests need root and Debian's postfix, openssl, swaks, sslscan and
// gnutls-bin packages (scripts/install-deps.sh). Without them they skip, unless
// TLSPROXY_INTEROP_REQUIRED=1 (as in CI), which turns the skip into a
// failure. TLSPROXY_BIN names a prebuilt tlsproxy to test instead of
// building one. -short skips them too.
package interop
