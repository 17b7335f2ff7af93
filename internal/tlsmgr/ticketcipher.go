package tlsmgr

import "strings"

// TicketCipherValid reports whether name is a tls_session_ticket_cipher
// that Postfix accepts. Postfix asks OpenSSL for a cipher of that name and
// takes it only in CBC mode with a 16-byte IV and a key of at most 32
// bytes; with Debian 12's OpenSSL 3.0 (default provider) those are the
// names below, in any letter case (checked against Debian's tlsproxy:
// aes-256-gcm, aes-256-ctr, aes-128-ocb, des-ede3-cbc, bf-cbc, seed-cbc and
// aes-192-cbc-hmac-sha1 are refused). Tickets here are sealed by Go's
// crypto/tls with tlsmgr's keys whatever the name; only its validity
// matters: Postfix disables tickets when it is not valid.
func TicketCipherValid(name string) bool {
	return ticketCiphers[strings.ToLower(name)]
}

var ticketCiphers = func() map[string]bool {
	m := map[string]bool{}
	for _, bits := range []string{"128", "192", "256"} {
		for _, alg := range []string{"aes", "aria", "camellia"} {
			m[alg+"-"+bits+"-cbc"] = true
			m[alg+bits] = true // OpenSSL's alias of the CBC cipher
		}
		m["aes-"+bits+"-cbc-cts"] = true
		m["camellia-"+bits+"-cbc-cts"] = true
	}
	for _, n := range []string{"aes-128-cbc-hmac-sha1", "aes-256-cbc-hmac-sha1",
		"aes-128-cbc-hmac-sha256", "aes-256-cbc-hmac-sha256", "sm4-cbc", "sm4"} {
		m[n] = true
	}
	return m
}()
