package tlspolicy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

// fixture holds certificate files written for one test.
type fixture struct {
	dir                string
	ca                 *pftest.CA
	rsa                string // RSA server cert + key in one file
	ecCert, ecKey      string // ECDSA server cert and key, separate files
	edChain            string // Ed25519 key + cert + CA cert (chain_files format)
	rsaChain           string // RSA key + cert + CA cert (chain_files format)
	caFile             string
	clientCert, client string // CA-issued Ed25519 client cert / key files
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), ca: pftest.NewCA(t, "Test CA")}
	rsaCert, rsaKey := f.ca.Issue(t, "mx.example.test", []string{"mx.example.test"}, pftest.KeyRSA2048)
	ecCert, ecKey := f.ca.Issue(t, "mx-ec.example.test", []string{"mx.example.test"}, pftest.KeyECDSA256)
	edCert, edKey := f.ca.Issue(t, "mx-ed.example.test", []string{"mx.example.test"}, pftest.KeyEd25519)
	cliCert, cliKey := f.ca.Issue(t, "client.example.test", nil, pftest.KeyEd25519)
	pftest.WriteFiles(t, f.dir, map[string][]byte{
		"rsa.pem":      cat(rsaCert, f.ca.CertPEM, rsaKey),
		"ec-cert.pem":  ecCert,
		"ec-key.pem":   ecKey,
		"ed.pem":       cat(edKey, edCert, f.ca.CertPEM),
		"rsachain.pem": cat(rsaKey, rsaCert, f.ca.CertPEM),
		"ca.pem":       f.ca.CertPEM,
		"client.crt":   cliCert,
		"client.key":   cliKey,
	})
	p := func(name string) string { return filepath.Join(f.dir, name) }
	f.rsa, f.ecCert, f.ecKey, f.edChain, f.caFile = p("rsa.pem"), p("ec-cert.pem"), p("ec-key.pem"), p("ed.pem"), p("ca.pem")
	f.clientCert, f.client = p("client.crt"), p("client.key")
	f.rsaChain = p("rsachain.pem")
	return f
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// settings returns the 3.7 defaults (compatibility level 3.6) with level
// may and the RSA certificate.
func (f *fixture) settings() ServerSettings {
	return ServerSettings{
		SecurityLevel: "may", VerifyDepth: 9,
		CertFile: f.rsa, KeyFile: f.rsa,
		Protocols: ">=TLSv1", MandatoryProtocols: ">=TLSv1",
		Ciphers: "medium", MandatoryCiphers: "medium",
		FingerprintDigest: "sha256", EECDHGrade: "auto", LogLevel: "0",
	}
}

// newServer runs NewServer and returns the server and its warnings.
func newServer(t testing.TB, s ServerSettings) (*Server, []string, error) {
	t.Helper()
	var warnings []string
	srv, err := NewServer(s, logs.Lines(func(w string) { warnings = append(warnings, w) }))
	return srv, warnings, err
}

// matchWarnings compares exactly, except that a wanted line ending in "*"
// only has to be a prefix.
func matchWarnings(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if p, ok := strings.CutSuffix(want[i], "*"); ok {
			if !strings.HasPrefix(got[i], p) {
				return false
			}
		} else if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestNewServerRules(t *testing.T) {
	f := newFixture(t)
	const (
		disabled  = "TLS server role is disabled with tlsproxy_tls_security_level or tlsproxy_use_tls"
		noCerts   = "No server certs available. TLS can't be enabled"
		needCert  = "Need a server cert to request client certs"
		cantReq   = "Can't require client certs unless TLS is required"
		chainWarn = "Both tlsproxy_tls_chain_files and one or more of the legacy  tlsproxy_tls_cert_file, tlsproxy_tls_eccert_file or tlsproxy_tls_dcert_file are non-empty; the legacy  parameters will be ignored"
	)
	missing := filepath.Join(f.dir, "missing.pem")
	tests := []struct {
		name    string
		mod     func(s *ServerSettings)
		err     string
		warn    []string
		enabled bool
		check   func(t *testing.T, srv *Server)
	}{
		{name: "may", mod: func(s *ServerSettings) {}, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.Enforce || srv.AskCert || srv.RequireCert || srv.Digest != "sha256" || srv.CipherGrade != "medium" {
					t.Errorf("server = %+v", srv)
				}
				if srv.Config.MinVersion != tls.VersionTLS10 || srv.Config.MaxVersion != tls.VersionTLS13 || srv.Config.ClientAuth != tls.NoClientCert {
					t.Errorf("config min %#x max %#x auth %v", srv.Config.MinVersion, srv.Config.MaxVersion, srv.Config.ClientAuth)
				}
			}},
		{name: "empty level, use_tls=no", mod: func(s *ServerSettings) { s.SecurityLevel = "" }, warn: []string{disabled}},
		{name: "empty level, use_tls=yes", mod: func(s *ServerSettings) { s.SecurityLevel, s.UseTLS = "", true }, enabled: true},
		{name: "enforce implies use", mod: func(s *ServerSettings) { s.SecurityLevel, s.EnforceTLS = "", true }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if !srv.Enforce {
					t.Error("not enforcing")
				}
			}},
		{name: "none overrides use_tls", mod: func(s *ServerSettings) { s.SecurityLevel, s.UseTLS, s.EnforceTLS = "none", true, true }, warn: []string{disabled}},
		{name: "verify", mod: func(s *ServerSettings) { s.SecurityLevel = "verify" }, enabled: true,
			warn: []string{`tlsproxy_tls_security_level: unsupported TLS level "verify", using "encrypt"`},
			check: func(t *testing.T, srv *Server) {
				if !srv.Enforce {
					t.Error("not enforcing")
				}
			}},
		{name: "secure", mod: func(s *ServerSettings) { s.SecurityLevel = "secure" }, enabled: true,
			warn: []string{`tlsproxy_tls_security_level: unsupported TLS level "secure", using "encrypt"`}},
		{name: "dane is fatal", mod: func(s *ServerSettings) { s.SecurityLevel = "dane" }, err: `Invalid TLS level "dane"`},
		{name: "bogus is fatal", mod: func(s *ServerSettings) { s.SecurityLevel = "bogus" }, err: `Invalid TLS level "bogus"`},
		{name: "no certs", mod: func(s *ServerSettings) { s.CertFile, s.KeyFile = "", "" }, warn: []string{noCerts}},
		{name: "no certs, ask", mod: func(s *ServerSettings) { s.CertFile, s.KeyFile, s.AskCcert = "", "", true }, warn: []string{needCert, noCerts}},
		{name: "req without encrypt", mod: func(s *ServerSettings) { s.ReqCcert = true }, warn: []string{cantReq}, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.AskCert || srv.RequireCert {
					t.Error("req_ccert took effect at level may")
				}
			}},
		{name: "req with encrypt", mod: func(s *ServerSettings) { s.SecurityLevel, s.ReqCcert = "encrypt", true }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if !srv.AskCert || !srv.RequireCert || srv.LogMask&LogUntrusted == 0 || srv.Config.ClientAuth != tls.RequestClientCert {
					t.Errorf("ask %v require %v mask %#x auth %v", srv.AskCert, srv.RequireCert, srv.LogMask, srv.Config.ClientAuth)
				}
				if got := strings.Join(srv.CipherExclusions, ":"); got != "aNULL" {
					t.Errorf("exclusions %q", got)
				}
				if srv.Config.MinVersion != tls.VersionTLS12 || len(srv.Offered(tls.VersionTLS11)) != 0 {
					t.Errorf("TLSv1/TLSv1.1 allowed with req_ccert: min %#x", srv.Config.MinVersion)
				}
			}},
		{name: "req with encrypt, old protocols only", mod: func(s *ServerSettings) {
			s.SecurityLevel, s.ReqCcert, s.MandatoryProtocols = "encrypt", true, "<=TLSv1.1"
		}, warn: []string{`TLS protocol list "<=TLSv1.1" leaves no protocol version usable with tlsproxy_tls_req_ccert = yes (TLSv1.2 or later): disabling TLS support`}},
		{name: "mandatory settings", mod: func(s *ServerSettings) {
			s.SecurityLevel, s.MandatoryProtocols, s.MandatoryCiphers = "encrypt", ">=TLSv1.2", "high"
			s.ExcludeCiphers, s.MandatoryExcludeCiphers = "RC4, MD5", "3DES"
		}, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.Config.MinVersion != tls.VersionTLS12 || srv.CipherGrade != "high" || strings.Join(srv.CipherExclusions, ":") != "RC4:MD5:3DES" {
					t.Errorf("min %#x grade %q excl %q", srv.Config.MinVersion, srv.CipherGrade, srv.CipherExclusions)
				}
			}},
		{name: "chain files and legacy", mod: func(s *ServerSettings) { s.ChainFiles = f.edChain }, warn: []string{chainWarn}, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if len(srv.certs) != 1 || keyKind(srv.certs[0].Leaf.PublicKey) != "Ed25519" {
					t.Errorf("certs %d", len(srv.certs))
				}
			}},
		{name: "cert_file none alone", mod: func(s *ServerSettings) { s.CertFile, s.KeyFile = "NONE", "" },
			warn: []string{"anonymous TLS (tlsproxy_tls_cert_file = none without other certificates) is not supported by this implementation (Go crypto/tls has no aNULL cipher suites): disabling TLS support"}},
		{name: "cert_file none, ask", mod: func(s *ServerSettings) { s.CertFile, s.KeyFile, s.AskCcert = "none", "", true }, warn: []string{needCert, noCerts}},
		{name: "cert_file none with eccert", mod: func(s *ServerSettings) { s.CertFile, s.ECCertFile, s.ECKeyFile = "none", f.ecCert, f.ecKey }, enabled: true},
		{name: "rsa and ecdsa", mod: func(s *ServerSettings) { s.ECCertFile, s.ECKeyFile = f.ecCert, f.ecKey }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if len(srv.certs) != 2 {
					t.Errorf("certs %d", len(srv.certs))
				}
			}},
		{name: "dcert only", mod: func(s *ServerSettings) { s.CertFile, s.KeyFile, s.DCertFile, s.DKeyFile = "", "", f.rsa, f.rsa },
			warn: []string{"DSA certificates are not supported by this implementation (Go crypto/tls): ignoring tlsproxy_tls_dcert_file = " + f.rsa, noCerts}},
		{name: "dcert with rsa", mod: func(s *ServerSettings) { s.DCertFile = f.rsa }, enabled: true,
			warn: []string{"DSA certificates are not supported by this implementation (Go crypto/tls): ignoring tlsproxy_tls_dcert_file = " + f.rsa}},
		{name: "missing cert file", mod: func(s *ServerSettings) { s.CertFile = missing },
			warn: []string{`cannot get RSA certificate from file "` + missing + `": disabling TLS support`, "TLS library problem: open *"}},
		{name: "key file without key", mod: func(s *ServerSettings) { s.KeyFile = f.caFile },
			warn: []string{`cannot get RSA private key from file "` + f.caFile + `": disabling TLS support`, "TLS library problem: no private key found"}},
		{name: "key mismatch", mod: func(s *ServerSettings) { s.KeyFile = f.ecKey },
			warn: []string{"RSA private key in " + f.ecKey + " does not match public key in " + f.rsa + ": disabling TLS support"}},
		{name: "ec key mismatch", mod: func(s *ServerSettings) { s.ECCertFile, s.ECKeyFile = f.ecCert, f.rsa },
			warn: []string{"ECDSA private key in " + f.rsa + " does not match public key in " + f.ecCert + ": disabling TLS support"}},
		{name: "bad protocols", mod: func(s *ServerSettings) { s.Protocols = "!SSLv2, TLSv1.4" },
			warn: []string{`Invalid TLS protocol list "!SSLv2, TLSv1.4": disabling TLS support`}},
		{name: "bad mandatory protocols ignored at may", mod: func(s *ServerSettings) { s.MandatoryProtocols = "bogus" }, enabled: true},
		{name: "export grade", mod: func(s *ServerSettings) { s.Ciphers = "export" }, enabled: true,
			warn: []string{"tlsproxy_tls_ciphers = export: export and low-grade cipher suites are not supported by this implementation (Go crypto/tls); the stronger suites Go offers are used instead"}},
		{name: "null grade at encrypt", mod: func(s *ServerSettings) { s.SecurityLevel, s.MandatoryCiphers = "encrypt", "null" }, enabled: true,
			warn: []string{
				"tlsproxy_tls_mandatory_ciphers = null: NULL (unencrypted) cipher suites are not supported by this implementation (Go crypto/tls)",
				`cipher list "eNULL:!aNULL" selects no TLSv1 to TLSv1.2 cipher suite this implementation (Go crypto/tls) supports: only TLSv1.3 is offered`,
			},
			check: func(t *testing.T, srv *Server) {
				if srv.Config.MinVersion != tls.VersionTLS13 || len(srv.Offered(tls.VersionTLS12)) != 0 || len(srv.Offered(tls.VersionTLS13)) != 3 {
					t.Errorf("min %#x, offered %v / %v", srv.Config.MinVersion, srv.Offered(tls.VersionTLS12), srv.Offered(tls.VersionTLS13))
				}
			}},
		{name: "null grade without TLSv1.3", mod: func(s *ServerSettings) { s.Ciphers, s.Protocols = "NULL", "<=TLSv1.2" },
			warn: []string{
				"tlsproxy_tls_ciphers = NULL: NULL (unencrypted) cipher suites are not supported by this implementation (Go crypto/tls)",
				`cipher list "eNULL:!aNULL" selects no cipher suite this implementation (Go crypto/tls) supports, and TLSv1.3 is disabled: disabling TLS support`,
			}},
		{name: "invalid grade", mod: func(s *ServerSettings) { s.Ciphers = "strong" },
			warn: []string{`tlsproxy_tls_ciphers = strong: invalid cipher grade: "strong": disabling TLS support`}},
		{name: "invalid exclusion", mod: func(s *ServerSettings) { s.ExcludeCiphers = "RC4, !MD5" },
			warn: []string{`tlsproxy_tls_ciphers = medium: invalid unary '!+-@' in cipher exclusion: "!MD5": disabling TLS support`}},
		{name: "malformed cipher list", mod: func(s *ServerSettings) { s.MediumCipherlist = "HIGH:@FOO" },
			warn: []string{`error setting cipher grade: "medium": invalid cipher string "HIGH:@FOO" at offset 6: unknown command @FOO: disabling TLS support`}},
		{name: "exclusions", mod: func(s *ServerSettings) { s.ExcludeCiphers = "kRSA SHA1:CHACHA20" }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				want := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}
				if srv.CipherList != DefaultMediumCipherlist+":!kRSA:!SHA1:!CHACHA20" || !slices.Equal(srv.Config.CipherSuites, want) {
					t.Errorf("list %q suites %v", srv.CipherList, srv.Config.CipherSuites)
				}
				// RSA certificate only: the ECDSA suites are not offered.
				if got := srv.Offered(tls.VersionTLS12); !slices.Equal(got, []uint16{want[1], want[3], want[5]}) {
					t.Errorf("offered with TLS 1.2: %v", got)
				}
				if got := srv.Offered(tls.VersionTLS11); len(got) != 0 {
					t.Errorf("offered with TLS 1.1: %v", got)
				}
			}},
		{name: "custom high list", mod: func(s *ServerSettings) { s.Ciphers, s.HighCipherlist = "High", "kRSA+AESGCM" }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				want := []uint16{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
				if !slices.Equal(srv.Config.CipherSuites, want) || !slices.Equal(srv.Offered(tls.VersionTLS12), want) || srv.Offered(tls.VersionTLS10) != nil {
					t.Errorf("suites %v", srv.Config.CipherSuites)
				}
			}},
		{name: "no suite for the certificate", mod: func(s *ServerSettings) { s.ExcludeCiphers, s.Protocols = "aRSA", "<=TLSv1.2" },
			warn: []string{`no cipher suite of "` + DefaultMediumCipherlist + `:!aRSA" can be used with the configured certificates and protocols: disabling TLS support`}},
		{name: "ignored settings", mod: func(s *ServerSettings) {
			s.PreemptCipherlist, s.AlwaysIssueSessionIDs, s.LogLevel, s.ExcludeCiphers = true, true, "3", "aRSA"
		}, enabled: true,
			warn: []string{"tls_preempt_cipherlist = yes is not supported by this implementation (Go crypto/tls picks the cipher suite by its own preference order)"},
			check: func(t *testing.T, srv *Server) {
				if len(srv.Ignored) != 4 || !strings.HasPrefix(srv.Ignored[1], "tlsproxy_tls_eecdh_grade = auto has no effect") {
					t.Errorf("ignored %q", srv.Ignored)
				}
				// Only TLS 1.3 works with the RSA certificate.
				if len(srv.Offered(tls.VersionTLS12)) != 0 || len(srv.Offered(tls.VersionTLS13)) != 3 {
					t.Errorf("offered %v %v", srv.Offered(tls.VersionTLS12), srv.Offered(tls.VersionTLS13))
				}
			}},
		{name: "no protocol left", mod: func(s *ServerSettings) { s.Protocols = "SSLv3" },
			warn: []string{`TLS protocol list "SSLv3" leaves no supported protocol version (TLSv1 to TLSv1.3): disabling TLS support`}},
		{name: "protocol hole", mod: func(s *ServerSettings) { s.Protocols = "!TLSv1.1" }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.Config.VerifyConnection == nil {
					t.Error("hole not enforced")
				}
			}},
		{name: "bad log level", mod: func(s *ServerSettings) { s.LogLevel = "routine, chatty" }, enabled: true,
			warn: []string{`unknown tlsproxy_tls_loglevel value "chatty" in "routine, chatty"`},
			check: func(t *testing.T, srv *Server) {
				if srv.LogMask != 0 {
					t.Errorf("mask %#x", srv.LogMask)
				}
			}},
		{name: "log level", mod: func(s *ServerSettings) { s.LogLevel = "1" }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.LogMask != LogSummary {
					t.Errorf("mask %#x", srv.LogMask)
				}
			}},
		{name: "bad digest", mod: func(s *ServerSettings) { s.FingerprintDigest = "sha3" },
			warn: []string{`Digest algorithm "sha3" not found: disabling TLS support`}},
		{name: "digest case", mod: func(s *ServerSettings) { s.FingerprintDigest = "MD5" }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.Digest != "md5" {
					t.Errorf("digest %q", srv.Digest)
				}
			}},
		{name: "dh params", mod: func(s *ServerSettings) { s.DH1024ParamFile, s.DH512ParamFile = "/etc/dh2048.pem", "/etc/dh512.pem" }, enabled: true,
			warn: []string{
				"tlsproxy_tls_dh1024_param_file = /etc/dh2048.pem is ignored: finite-field DHE is not supported by this implementation (Go crypto/tls)",
				"tlsproxy_tls_dh512_param_file = /etc/dh512.pem is ignored: finite-field DHE is not supported by this implementation (Go crypto/tls)",
			}},
		{name: "missing CAfile", mod: func(s *ServerSettings) { s.CAfile = missing },
			warn: []string{"cannot load Certification Authority data, CAfile=\"" + missing + "\": disabling TLS support",
				"TLS library problem: open " + missing + ": no such file or directory"}},
		{name: "ask with CAfile", mod: func(s *ServerSettings) { s.AskCcert, s.CAfile, s.CApath = true, f.caFile, f.dir }, enabled: true,
			check: func(t *testing.T, srv *Server) {
				if srv.Config.ClientCAs == nil || srv.Config.ClientAuth != tls.RequestClientCert || srv.verifyPool == nil {
					t.Error("client CA setup missing")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.settings()
			tt.mod(&s)
			srv, warnings, err := newServer(t, s)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !matchWarnings(warnings, tt.warn) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tt.warn)
			}
			if srv.Enabled != tt.enabled {
				t.Fatalf("Enabled = %v, want %v", srv.Enabled, tt.enabled)
			}
			if tt.check != nil {
				tt.check(t, srv)
			}
		})
	}
}

func TestChainFiles(t *testing.T) {
	f := newFixture(t)
	ca := f.ca
	rsaCert, rsaKey := ca.Issue(t, "mx.example.test", nil, pftest.KeyRSA2048)
	ecCert, ecKey := ca.Issue(t, "mx-ec.example.test", nil, pftest.KeyECDSA256)
	ec2Cert, ec2Key := ca.Issue(t, "mx-ec2.example.test", nil, pftest.KeyECDSA384)
	edCert, edKey := ca.Issue(t, "mx-ed.example.test", nil, pftest.KeyEd25519)
	tests := []struct {
		name  string
		files [][]byte // written as c0.pem, c1.pem, ...
		kinds string   // loaded key families, or "" for failure
		warn  []string // %s = the file list
	}{
		{name: "one file with two keys", files: [][]byte{cat(ecKey, ecCert, ca.CertPEM, rsaKey, rsaCert, ca.CertPEM)}, kinds: "ECDSA RSA"},
		{name: "key and chain in separate files", files: [][]byte{edKey, cat(edCert, ca.CertPEM), rsaKey, rsaCert}, kinds: "Ed25519 RSA"},
		{name: "single key last", files: [][]byte{cat(rsaCert, ca.CertPEM, rsaKey)}, kinds: "RSA"},
		{name: "cert before key", files: [][]byte{cat(ecCert, ecKey, rsaKey, rsaCert)},
			warn: []string{"error loading chain from %s: key not first", "error loading private keys and certificates from: %s: disabling TLS support"}},
		{name: "mismatch", files: [][]byte{cat(ecKey, rsaCert)},
			warn: []string{"key at index 1 in %s does not match next certificate", "error loading private keys and certificates from: %s: disabling TLS support"}},
		{name: "back to back keys", files: [][]byte{cat(ecKey, rsaKey, rsaCert)},
			warn: []string{"error loading certificate chain: key at index 1 in %s not followed by a certificate", "error loading private keys and certificates from: %s: disabling TLS support"}},
		{name: "key last without certs", files: [][]byte{cat(ecKey, ecCert, rsaKey)},
			warn: []string{"No certs for key at index 3 in %s", "error loading private keys and certificates from: %s: disabling TLS support"}},
		{name: "second key of a family", files: [][]byte{cat(ecKey, ecCert, ec2Key, ec2Cert)}, kinds: "ECDSA",
			warn: []string{"ignoring 2nd key at index 3 in %s after 1st at 1"}},
		{name: "empty", files: [][]byte{[]byte("no pem here\n")},
			warn: []string{"no private keys or certificates found in %s", "error loading private keys and certificates from: %s: disabling TLS support"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var names []string
			for i, data := range tt.files {
				name := filepath.Join(dir, "c"+string(rune('0'+i))+".pem")
				if err := os.WriteFile(name, data, 0o600); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
			}
			var warnings []string
			certs, ok := loadChainFiles(strings.Join(names, ", "), logs.Lines(func(w string) { warnings = append(warnings, w) }))
			where := strings.Join(names, ", ")
			var want []string
			for _, w := range tt.warn {
				want = append(want, strings.ReplaceAll(w, "%s", where))
			}
			if !matchWarnings(warnings, want) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
			}
			var kinds []string
			for _, c := range certs {
				kinds = append(kinds, keyKind(c.Leaf.PublicKey))
				if len(c.Certificate) == 0 || c.Leaf == nil {
					t.Error("empty certificate")
				}
			}
			if got := strings.Join(kinds, " "); got != tt.kinds || ok != (tt.kinds != "") {
				t.Errorf("loaded %q ok=%v, want %q", got, ok, tt.kinds)
			}
		})
	}
}
