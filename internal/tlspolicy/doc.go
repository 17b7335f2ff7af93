// Package tlspolicy turns tlsproxy's TLS settings into a Go crypto/tls
// configuration and describes finished TLS sessions the way Postfix does.
//
// It mirrors the server-role start-up of Postfix's tlsproxy(8) (3.7): the
// security level / use / enforce rules, the "no server certs" and client
// certificate warnings, certificate and key loading from the legacy
// cert/eccert/dcert settings or from tlsproxy_tls_chain_files, CA loading
// (CAfile, and the hashed HASH.N files of CApath, read before the jail),
// the protocol list syntax (tls_proto_mask_lims), the cipher grades
// (tls_<grade>_cipherlist plus ":!exclusion" per excluded name, evaluated
// by an OpenSSL cipher string evaluator that agrees with OpenSSL 3.0 on
// every suite both implement, see cipherstring.go), the TLS log level
// keywords (tls_log_mask), and, after a handshake, the summary log line
// (tls_log_summary), the untrusted-certificate line, the peer certificate
// line and the 22-attribute TLS context reply (TLS_SESS_STATE,
// docs/protocol.md, "The TLS context reply"). [Server.Versions],
// [Server.Offered] and [Server.Certificates] describe the effective policy
// for reports.
//
// # Deliberate differences from OpenSSL-based Postfix
//
// Go's crypto/tls cannot do everything OpenSSL does; where it cannot, this
// package warns at start-up and carries on, or disables TLS the way Postfix
// disables it after a TLS library problem (the server role then answers
// every request with status 0):
//
//   - DSA certificates (tlsproxy_tls_dcert_file, DSA keys in chain files) are
//     skipped with a warning.
//   - Finite-field DHE is unavailable: tlsproxy_tls_dh1024_param_file and
//     tlsproxy_tls_dh512_param_file are ignored (one warning each if set).
//   - Anonymous (aNULL) cipher suites do not exist in Go, so
//     "tlsproxy_tls_cert_file = none" without any other certificate disables
//     TLS instead of offering anonymous TLS.
//   - SSLv2/SSLv3 are never available; protocol lists that leave no version
//     between TLSv1 and TLSv1.3 disable TLS. Holes in the allowed set (e.g.
//     "!TLSv1.1") are enforced by rejecting such handshakes after version
//     negotiation, because Go only knows a contiguous min..max range.
//   - Key exchange groups come from tls_eecdh_auto_curves and
//     tls_ffdhe_auto_groups, read by the installed release's rules
//     (groups.go); left unset, they are Postfix 3.11's default
//     "?X25519MLKEM768:DEFAULT" whatever the release, so Go's
//     post-quantum hybrid is offered. X448 and the FFDHE groups do not
//     exist in Go: listed, they are warned about and skipped. Go orders
//     groups by its own rules (hybrids first), so only the set counts.
//   - Cipher lists select among the TLS 1.0-1.2 suites Go has; OpenSSL's
//     DHE, CAMELLIA, ARIA, CCM and anonymous suites do not exist here, and
//     neither Go's RC4 and 3DES suites nor export, low and NULL ones are
//     ever offered (Debian's OpenSSL 3.0 has none of them either). A list
//     that selects no suite leaves TLS 1.3 only (OpenSSL's cipher lists do
//     not apply to TLS 1.3, and OpenSSL would fail every older handshake);
//     without TLS 1.3 it disables TLS. As OpenSSL with
//     tls_preempt_cipherlist = no (the default), a TLS 1.0-1.2 handshake
//     takes the client's most preferred allowed suite (clientorder.go);
//     tls_preempt_cipherlist = yes is ignored with a warning (Go then picks
//     by its own preference, not by the list's order), and TLS 1.3 suites
//     are always Go's choice. A configuration whose suites none of the
//     certificates can serve disables TLS with a warning.
//   - Invalid grades, exclusions starting with one of "!+-@" and malformed
//     cipher lists, which Postfix reports per session, disable TLS at start.
//   - With tlsproxy_tls_req_ccert at level encrypt, Postfix raises OpenSSL's
//     security level to 1, where OpenSSL 3 refuses TLSv1 and TLSv1.1; they
//     are not offered then either.
//   - TLS 1.2 session IDs are never issued (Go resumes with tickets only),
//     whatever tlsproxy_tls_always_issue_session_ids says; the report lists
//     it, and tlsproxy_tls_eecdh_grade, which Postfix 3.6+ ignores too.
//   - Session tickets use Go's implementation with one random key per
//     process (shared by all sessions); tlsmgr-managed keys come later.
//
// # Inferred session details
//
// Go's ConnectionState does not expose the signature schemes that were used.
// As in Postfix, key-exchange and signature details are only reported for
// TLS 1.3; there the algorithm and curve/bits come from the certificates,
// and the digest is inferred: SHA256 for RSA-PSS (what Go and OpenSSL
// clients prefer), the curve's hash for ECDSA, none for Ed25519.
package tlspolicy
