package tlsclient

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

func TestNewSessionSetup(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name    string
		mod     func(st *Start)
		wantErr bool
		warn    string // expected last log line
	}{
		{"bad protocols", func(st *Start) { st.Protocols = "TLSv9" }, true,
			`warning: mx.example.com[127.0.0.1]:25: Invalid TLS protocol list "TLSv9": aborting TLS session`},
		{"bad grade", func(st *Start) { st.CipherGrade = "bogus" }, true,
			`warning: mx.example.com[127.0.0.1]:25: invalid cipher grade: "bogus"`},
		{"null grade", func(st *Start) { st.CipherGrade = "NULL" }, true,
			`warning: mx.example.com[127.0.0.1]:25: cipher grade "NULL" (NULL cipher suites) is not supported by this implementation (Go crypto/tls)`},
		{"bad exclusion", func(st *Start) { st.CipherExclusions = "eNULL, !RC4" }, true,
			`warning: mx.example.com[127.0.0.1]:25: invalid unary '!+-@' in cipher exclusion: !RC4`},
		{"bad digest", func(st *Start) { st.MDAlg = "sha3" }, true,
			`warning: Digest algorithm "sha3" not found: disabling TLS support`},
		{"long sni", func(st *Start) { st.SNI = long }, true,
			`warning: mx.example.com[127.0.0.1]:25: ignoring too long SNI hostname: ` + long[:100]},
		{"bad log level", func(st *Start) { st.LogLevel = "bogus" }, false,
			`warning: unknown smtp_tls_loglevel value "bogus" in "bogus"`},
		{"upper-case grade", func(st *Start) { st.CipherGrade = "HIGH" }, false, ""},
	}
	cl, err := New(Settings{}, logs.Lines(func(s string) { t.Errorf("warning: %s", s) }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := baseStart(LevelMay)
			tc.mod(&st)
			log := &recLog{}
			_, err := cl.NewSession(st, log)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrSetup)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			last := ""
			if len(log.lines) > 0 {
				last = log.lines[len(log.lines)-1]
			}
			if last != tc.warn {
				t.Errorf("log %q, want last line %q", log.lines, tc.warn)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	var gotGrade string
	var gotExcl []string
	cl, err := New(Settings{CipherSuites: func(grade string, excl []string) ([]uint16, error) {
		gotGrade, gotExcl = grade, excl
		return []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, nil
	}}, logs.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st := baseStart(LevelDane)
	st.Protocols, st.CipherGrade, st.CipherExclusions = ">=TLSv1.2", "High", "aNULL:MD5 RC4"
	st.SNI, st.DANEDomain = "hostname", "tlsa.example.com"
	st.TLSA = []TLSA{tlsa(3, 1, 1, make([]byte, 32))}
	sess, err := cl.NewSession(st, &recLog{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := sess.Config()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != tls.VersionTLS13 {
		t.Errorf("versions %x..%x", cfg.MinVersion, cfg.MaxVersion)
	}
	if !cfg.InsecureSkipVerify || cfg.ServerName != "tlsa.example.com" || sess.SNI() != "tlsa.example.com" {
		t.Errorf("InsecureSkipVerify %v, ServerName %q", cfg.InsecureSkipVerify, cfg.ServerName)
	}
	if gotGrade != "high" || !reflect.DeepEqual(gotExcl, []string{"aNULL", "MD5", "RC4"}) ||
		!reflect.DeepEqual(cfg.CipherSuites, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}) {
		t.Errorf("cipher hook got %q %q, suites %v", gotGrade, gotExcl, cfg.CipherSuites)
	}
	if sess.Level() != LevelDane {
		t.Errorf("level %d", sess.Level())
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	ca := pftest.NewCA(t, "Test CA")
	cert, key, _ := ca.IssueLeaf(t, pftest.Leaf{CN: "client.example.com"})
	ecCert, ecKey, _ := ca.IssueLeaf(t, pftest.Leaf{CN: "ec.example.com", KeyType: pftest.KeyECDSA256})
	pftest.WriteFiles(t, dir, map[string][]byte{
		"ca.pem":      ca.CertPEM,
		"cert.pem":    cert,
		"key.pem":     key,
		"both.pem":    append(append([]byte{}, cert...), key...),
		"chain.pem":   append(append(append(append([]byte{}, key...), cert...), ecKey...), ecCert...),
		"badorder":    append(append([]byte{}, cert...), key...),
		"garbage.pem": []byte("not a certificate"),
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name    string
		set     Settings
		certs   int
		roots   int
		warns   int
		wantErr bool
	}{
		{"nothing", Settings{}, 0, 0, 0, false},
		{"CAfile", Settings{CAfile: p("ca.pem")}, 0, 1, 0, false},
		{"CApath reads every file, skips junk", Settings{CApath: dir}, 0, 6, 0, false},
		{"missing CAfile", Settings{CAfile: p("nope")}, 0, 0, 0, true},
		{"legacy cert and key", Settings{CertFile: p("cert.pem"), KeyFile: p("key.pem")}, 1, 0, 0, false},
		{"key in cert file", Settings{CertFile: p("both.pem")}, 1, 0, 0, false},
		{"bad key", Settings{CertFile: p("cert.pem"), KeyFile: p("ca.pem")}, 0, 0, 0, true},
		{"chain files", Settings{ChainFiles: p("chain.pem")}, 2, 0, 0, false},
		{"chain files win", Settings{ChainFiles: p("chain.pem"), CertFile: p("cert.pem")}, 2, 0, 1, false},
		{"chain cert before key", Settings{ChainFiles: p("badorder")}, 0, 0, 0, true},
		{"dsa ignored", Settings{DCertFile: p("cert.pem")}, 0, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			warns := 0
			c, err := New(tc.set, logs.Lines(func(string) { warns++ }))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if len(c.certs) != tc.certs || len(c.roots) != tc.roots || warns != tc.warns {
				t.Errorf("certs %d roots %d warnings %d, want %d %d %d", len(c.certs), len(c.roots), warns, tc.certs, tc.roots, tc.warns)
			}
		})
	}
}
