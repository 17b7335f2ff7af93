// Package tlspolicy turns tlsproxy's TLS settings into a Go crypto/tls
// configuration and describes finished TLS sessions the way Postfix does.
//
// It mirrors the server-role start-up of Postfix's tlsproxy(8) (3.7): the
// security level / use / enforce rules, the "no server certs" and client
// certificate warnings, certificate and key loading from the legacy
// cert/eccert/dcert settings or from tlsproxy_tls_chain_files, CA loading,
// the protocol list syntax (tls_proto_mask_lims), the TLS log level keywords
// (tls_log_mask), and, after a handshake, the summary log line
// (tls_log_summary), the peer certificate line and the 22-attribute TLS
// context reply (TLS_SESS_STATE, tlsproxy-protocol.md §4.7).
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
//   - Key exchange groups are fixed to the tls_eecdh_auto_curves default
//     (X25519, P-256, P-521, P-384; X448 does not exist in Go), which also
//     keeps Go's post-quantum hybrids out, as with OpenSSL 3.0.
//   - Cipher suites for TLS 1.0-1.2 are Go's defaults; the cipher grade and
//     exclusion settings are kept in [Server] for a later cipher policy.
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
