package tlspolicy

import (
	"crypto/tls"
	"slices"
)

// followClientOrder makes a TLS 1.0 - 1.2 handshake on cfg take the
// client's most preferred cipher suite among those cfg allows, as OpenSSL
// does while tls_preempt_cipherlist = no (Postfix's default): crypto/tls
// itself always picks by its own preference order (AES-128 before
// AES-256), whatever the client prefers.
//
// It hooks cfg.GetConfigForClient (after any hook already there, whose
// config it then starts from): for a ClientHello that will not negotiate
// TLS 1.3, it finds the first suite in the client's list that is allowed
// and that crypto/tls can use with the certificate pick chooses (key
// type, ECDHE groups, protocol version), and hands crypto/tls a copy of
// the config that allows that suite only. TLS 1.3 suites are not
// configurable in crypto/tls, so TLS 1.3 handshakes are left alone.
func followClientOrder(cfg *tls.Config, pick func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	allowed := cfg.CipherSuites
	prev := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		var base *tls.Config
		if prev != nil {
			c, err := prev(hello)
			if err != nil {
				return nil, err
			}
			base = c
		}
		from := cfg
		if base != nil {
			from = base
		}
		id, ok := clientChoice(hello, from.MinVersion, from.MaxVersion, allowed, pick)
		if !ok {
			return base, nil
		}
		one := from.Clone()
		one.GetConfigForClient = nil
		one.CipherSuites = []uint16{id}
		return one, nil
	}
}

// clientChoice returns the first suite of the client's list that allowed
// holds and the certificate pick chooses can serve, for a hello that will
// negotiate TLS 1.2 or older within [minVers, maxVers].
func clientChoice(hello *tls.ClientHelloInfo, minVers, maxVers uint16, allowed []uint16,
	pick func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (uint16, bool) {
	var vers uint16
	for _, v := range hello.SupportedVersions {
		if v >= minVers && (maxVers == 0 || v <= maxVers) && v > vers {
			vers = v
		}
	}
	if vers == 0 || vers >= tls.VersionTLS13 || len(allowed) == 0 {
		return 0, false
	}
	cert, err := pick(hello)
	if err != nil || cert == nil {
		return 0, false
	}
	one := *hello
	one.ServerName = "" // the name is not this check's business
	for _, id := range hello.CipherSuites {
		if !slices.Contains(allowed, id) {
			continue
		}
		one.CipherSuites = []uint16{id}
		if one.SupportsCertificate(cert) == nil {
			return id, true
		}
	}
	return 0, false
}
