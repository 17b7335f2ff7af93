// Package tlsclient is the TLS side of tlsproxy(8)'s client role: the
// outbound TLS that smtp(8) hands to tlsproxy when it caches connections
// (smtp_tls_connection_reuse, Postfix 3.4+).
//
// It mirrors Postfix's client TLS engine (tls_client_init, tls_client_start
// and tls_client_post_connect, as tlsproxy runs them, 3.7): the client
// certificate and CA store prepared before the jail, per session the SNI
// name, protocol range, cipher grade checks, peer name patterns and the
// DANE/fingerprint/trust-anchor TLSA records that the request carries, and
// after the handshake the verification result as Postfix reports it:
// peer_status (PRESENT, TRUSTED, MATCHED, SECURED), the effective security
// level (dane/halfdane fall back to encrypt when no TLSA record is usable),
// the certificate, match, verification-failure and summary log lines.
//
// # Report, never enforce
//
// Like Postfix's tlsproxy (docs/protocol.md, "The client role"),
// a session is never ended because verification failed: the handshake is
// completed with Go's own verification disabled, the outcome is reported in
// the TLS context (peer_status, level), and smtp(8) decides; for every level
// above encrypt it requires MATCHED and otherwise defers the mail with
// "Server certificate not verified" (Result.Reason). Only setup problems
// (bad protocol list, bad cipher grade, over-long SNI name) make
// [Client.NewSession] fail, as they make Postfix's tls_client_start fail.
//
// # How OpenSSL's verification is reproduced
//
// Postfix delegates verification to OpenSSL (trusted-first chain building
// against CAfile/CApath, host name checks with SSL_add1_host, DANE with
// SSL_dane_tlsa_add) and keeps the first error at the lowest chain depth
// for its log line. This package builds the chain itself so that it can
// report the same error numbers and depths: 18 self-signed leaf, 19
// self-signed CA in chain, 20 unknown issuer, 22 chain too long, 26 wrong
// purpose, 62 host name mismatch, 65 no matching TLSA record, 9/10 not yet
// valid/expired (checked last, top down, as OpenSSL does). Differences: a
// non-CA issuer counts as an unknown issuer (OpenSSL: 24 invalid CA), name
// constraints and revocation are not checked, and the validity of a DANE-TA
// trust anchor itself is not checked (only certificates below it), and
// CApath is read completely before the jail (every certificate of every
// file), not looked up by hash name.
//
// Sessions are resumed from tlsmgr(8)'s cache of the requester's type
// (cache_type smtp or lmtp) when Settings.SessionCache has one
// (smtp_tls_session_cache_database or lmtp_tls_session_cache_database
// configured; our own entry format, never read by Postfix's smtp or lmtp),
// only under the same serverid, helo, protocols, ciphers, SNI and
// DANE/fingerprint settings, as Postfix's smtp cache id digests them.
// Without such a cache nothing is resumed, as in Postfix. Not implemented: protocol lists with holes (only the min..max range is
// applied), OpenSSL cipher lists (a Settings hook takes grade and
// exclusions), TLS_CLIENT_PARAMS values such as tls_dane_digests (matching
// types 1 = SHA-256 and 2 = SHA-512 are always available).
package tlsclient
