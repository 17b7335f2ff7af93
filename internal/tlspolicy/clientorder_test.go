package tlspolicy

import (
	"crypto/tls"
	"path/filepath"
	"testing"
)

// TestClientCipherOrder handshakes with `openssl s_client` (skipped when
// missing), whose ClientHello lists the suites in the order given, and
// checks that a TLS 1.2 handshake takes the client's first suite that the
// policy allows and the certificate can serve, as OpenSSL does with
// tls_preempt_cipherlist = no; with = yes the choice stays Go's.
func TestClientCipherOrder(t *testing.T) {
	f, ecdsa := opensslFixture(t, "mx-ec.example.test")
	rsa := f.settings()
	both := f.settings()
	both.ECCertFile, both.ECKeyFile = filepath.Join(f.dir, "ec.pem"), ""
	preempt := f.settings()
	preempt.PreemptCipherlist = true
	noAES256 := f.settings()
	noAES256.ExcludeCiphers = "AES256"

	tests := []struct {
		name     string
		settings ServerSettings
		args     []string
		want     uint16
	}{
		{"AES-256 first", rsa, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{"AES-128 first", rsa, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"},
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"ChaCha20 first", rsa, []string{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
		{"CBC first", rsa, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA},
		{"ECDSA suite first, RSA certificate", rsa, []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"RSA suite first, ECDSA certificate", ecdsa, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"excluded suite first", noAES256, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
		{"TLS 1.1, CBC order", rsa, []string{"-tls1_1", "-cipher", "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0"},
			tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA},
		{"preempt: Go's order", preempt, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"},
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"TLS 1.3 unchanged", rsa, []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"},
			tls.TLS_AES_128_GCM_SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, _ := opensslHandshake(t, mustServer(t, tt.settings), tt.args)
			if got := tc.ConnectionState().CipherSuite; got != tt.want {
				t.Errorf("cipher %s, want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(tt.want))
			}
		})
	}
}
