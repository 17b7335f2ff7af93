package tlsconf

import (
	"os"
	"path/filepath"
	"testing"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

func load(t *testing.T, mainCf string, overrides []string) (tlspolicy.ServerSettings, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(dir, overrides, logs.Lines(func(w string) { t.Logf("conf warning: %s", w) }))
	if err != nil {
		t.Fatal(err)
	}
	return Load(cfg)
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		mainCf    string
		overrides []string
		check     func(s tlspolicy.ServerSettings) bool
		err       string
	}{
		{name: "defaults", check: func(s tlspolicy.ServerSettings) bool {
			return s.SecurityLevel == "" && s.Ciphers == "medium" && s.Protocols == ">=TLSv1" && s.VerifyDepth == 9 &&
				s.FingerprintDigest == "md5" && s.EECDHGrade == "auto" && s.AlwaysIssueSessionIDs && !s.PreemptCipherlist &&
				s.HighCipherlist == tlspolicy.DefaultHighCipherlist && s.MediumCipherlist == tlspolicy.DefaultMediumCipherlist &&
				s.LowCipherlist == tlspolicy.DefaultLowCipherlist && s.ExportCipherlist == tlspolicy.DefaultExportCipherlist &&
				s.NullCipherlist == tlspolicy.DefaultNullCipherlist
		}},
		{name: "smtpd inheritance", mainCf: "compatibility_level = 3.6\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = /c.pem\nsmtpd_tls_ciphers = high\n",
			check: func(s tlspolicy.ServerSettings) bool {
				return s.SecurityLevel == "may" && s.CertFile == "/c.pem" && s.KeyFile == "/c.pem" && s.Ciphers == "high" && s.FingerprintDigest == "sha256"
			}},
		{name: "tlsproxy overrides smtpd", mainCf: "smtpd_tls_protocols = >=TLSv1\ntlsproxy_tls_protocols = >=TLSv1.2\n",
			overrides: []string{"tls_high_cipherlist=ECDHE+AESGCM", "tls_preempt_cipherlist=yes"},
			check: func(s tlspolicy.ServerSettings) bool {
				return s.Protocols == ">=TLSv1.2" && s.HighCipherlist == "ECDHE+AESGCM" && s.PreemptCipherlist
			}},
		{name: "bad boolean", mainCf: "tlsproxy_tls_ask_ccert = maybe\n", err: "bad boolean configuration: tlsproxy_tls_ask_ccert = maybe"},
		{name: "empty cipher list", mainCf: "tls_null_cipherlist =\n", err: "bad string length 0 < 1: tls_null_cipherlist = "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(t, tt.mainCf, tt.overrides)
			if !pftest.WantErr(t, err, tt.err) {
				return
			}
			if !tt.check(s) {
				t.Errorf("settings %+v", s)
			}
		})
	}
}
