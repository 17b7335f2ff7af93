package tlspolicy

import "crypto/tls"

// cipherInfo is what Postfix reports about a cipher suite: the OpenSSL
// name and the "(usebits/algbits bits)" strength.
type cipherInfo struct {
	name             string
	useBits, algBits int
}

// cipherTable covers every suite Go can negotiate (secure and insecure
// lists). TLS 1.3 suites have the same names in OpenSSL and IANA.
var cipherTable = map[uint16]cipherInfo{
	tls.TLS_AES_128_GCM_SHA256:       {"TLS_AES_128_GCM_SHA256", 128, 128},
	tls.TLS_AES_256_GCM_SHA384:       {"TLS_AES_256_GCM_SHA384", 256, 256},
	tls.TLS_CHACHA20_POLY1305_SHA256: {"TLS_CHACHA20_POLY1305_SHA256", 256, 256},

	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          {"ECDHE-ECDSA-AES128-SHA", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          {"ECDHE-ECDSA-AES256-SHA", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            {"ECDHE-RSA-AES128-SHA", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            {"ECDHE-RSA-AES256-SHA", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       {"ECDHE-ECDSA-AES128-GCM-SHA256", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       {"ECDHE-ECDSA-AES256-GCM-SHA384", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         {"ECDHE-RSA-AES128-GCM-SHA256", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         {"ECDHE-RSA-AES256-GCM-SHA384", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   {"ECDHE-RSA-CHACHA20-POLY1305", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: {"ECDHE-ECDSA-CHACHA20-POLY1305", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       {"ECDHE-ECDSA-AES128-SHA256", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         {"ECDHE-RSA-AES128-SHA256", 128, 128},

	tls.TLS_RSA_WITH_AES_128_CBC_SHA:    {"AES128-SHA", 128, 128},
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:    {"AES256-SHA", 256, 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256: {"AES128-SHA256", 128, 128},
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256: {"AES128-GCM-SHA256", 128, 128},
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384: {"AES256-GCM-SHA384", 256, 256},

	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:       {"DES-CBC3-SHA", 112, 168},
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: {"ECDHE-RSA-DES-CBC3-SHA", 112, 168},
	tls.TLS_RSA_WITH_RC4_128_SHA:            {"RC4-SHA", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:      {"ECDHE-RSA-RC4-SHA", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:    {"ECDHE-ECDSA-RC4-SHA", 128, 128},
}

// OpenSSLCipherName returns OpenSSL's name for a cipher suite, or Go's
// (IANA) name for a suite this table does not know.
func OpenSSLCipherName(id uint16) string {
	if c, ok := cipherTable[id]; ok {
		return c.name
	}
	return tls.CipherSuiteName(id)
}

// cipherBits returns the (usebits, algbits) strength of a suite, 0/0 if
// unknown.
func cipherBits(id uint16) (int, int) {
	c := cipherTable[id]
	return c.useBits, c.algBits
}

// protocolName is OpenSSL's SSL_get_version() spelling.
func protocolName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// ProtocolName returns OpenSSL's name of a TLS version ("TLSv1",
// "TLSv1.1", "TLSv1.2", "TLSv1.3"), "unknown" for others.
func ProtocolName(v uint16) string { return protocolName(v) }
