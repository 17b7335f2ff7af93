package tlspolicy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
)

// fakeSNI is a table of fixed names; a name in fail makes the lookup fail.
type fakeSNI struct {
	m     map[string]string
	fail  map[string]bool
	tried []string
}

func (f *fakeSNI) Find(k string) (string, bool, error) {
	f.tried = append(f.tried, k)
	if f.fail[k] {
		return "", false, errors.New("lookup failed")
	}
	v, ok := f.m[strings.ToLower(k)] // a table of fixed strings folds
	return v, ok, nil
}

func (f *fakeSNI) Title() string { return "tls_server_sni_maps" }

func TestSNIChoice(t *testing.T) {
	fx := newFixture(t)
	ca := pftest.NewCA(t, "SNI CA")
	aCert, aKey := ca.Issue(t, "a.example.net", []string{"a.example.net"}, pftest.KeyRSA2048)
	aecCert, aecKey := ca.Issue(t, "a-ec.example.net", []string{"a.example.net"}, pftest.KeyECDSA256)
	wCert, wKey := ca.Issue(t, "wild.example.org", []string{"*.example.org"}, pftest.KeyECDSA256)
	table := &fakeSNI{
		m: map[string]string{
			"a.example.net": string(cat(aKey, aCert, ca.CertPEM, aecKey, aecCert)),
			".example.org":  string(cat(wKey, wCert)),
			"bad.example":   string(cat(aCert, aKey)),
		},
		fail: map[string]bool{"fail.example": true},
	}
	srv := mustServer(t, fx.settings())
	var logs []string
	srv.SetSNI(table, sniLog{&logs})

	rsaOnly := []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}
	ecOnly := []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}
	for _, tc := range []struct {
		sni     string
		schemes []tls.SignatureScheme
		served  string // leaf CN; "" = handshake fails
		tried   []string
		logs    []string // regexps
	}{
		{sni: "A.Example.NET", schemes: rsaOnly, served: "a.example.net", tried: []string{"A.Example.NET"}},
		{sni: "a.example.net", schemes: ecOnly, served: "a-ec.example.net"},
		{sni: "a.example.net", served: "a.example.net"}, // the client prefers RSA-PSS
		{sni: "x.y.example.org", served: "wild.example.org", tried: []string{"x.y.example.org", ".y.example.org", ".example.org"}},
		{sni: "example.org", served: "mx.example.test", tried: []string{"example.org", ".org"},
			logs: []string{`^info: TLS SNI example.org from \[127\.0\.0\.1\]:\d+ not matched, using default chain$`}},
		{sni: "under_score-1.example.com", served: "mx.example.test",
			logs: []string{`^info: TLS SNI under_score-1\.example\.com from .* not matched, using default chain$`}},
		{sni: "a..b", served: "mx.example.test", tried: []string{},
			logs: []string{`^warning: TLS SNI from \[127\.0\.0\.1\]:\d+ is invalid: a\.\.b$`}},
		{sni: "fail.example", tried: []string{"fail.example"},
			logs: []string{`^warning: tls_server_sni_maps: fail\.example map lookup problem$`}},
		{sni: "bad.example", logs: []string{
			`^warning: error loading chain from SNI data for bad\.example: key not first$`,
			`^warning: error loading private keys and certificates from: SNI data for bad\.example: aborting TLS handshake$`}},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			logs, table.tried = nil, []string{}
			client := &tls.Config{ServerName: tc.sni, MaxVersion: tls.VersionTLS13}
			if tc.schemes != nil {
				// Go's client offers every scheme; TLS 1.2 with
				// matching suites narrows the key type instead.
				client.MaxVersion = tls.VersionTLS12
				if tc.schemes[0] == tls.ECDSAWithP256AndSHA256 {
					client.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
				} else {
					client.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
				}
			}
			res, _, cerr := handshake(t, srv, client)
			if tc.served == "" {
				if cerr == nil || res.err == nil {
					t.Fatalf("handshake succeeded (client %v, server %v)", cerr, res.err)
				}
			} else {
				if cerr != nil || res.err != nil {
					t.Fatalf("handshake: client %v, server %v", cerr, res.err)
				}
				if got := res.served.Leaf.Subject.CommonName; got != tc.served {
					t.Errorf("served %q, want %q", got, tc.served)
				}
			}
			if tc.tried != nil && strings.Join(table.tried, " ") != strings.Join(tc.tried, " ") {
				t.Errorf("lookups %q, want %q", table.tried, tc.tried)
			}
			if len(logs) != len(tc.logs) {
				t.Fatalf("logs %q, want %q", logs, tc.logs)
			}
			for i, re := range tc.logs {
				if !regexp.MustCompile(re).MatchString(logs[i]) {
					t.Errorf("log %q does not match %q", logs[i], re)
				}
			}
		})
	}
}

func TestLoadPEMChains(t *testing.T) {
	ca := pftest.NewCA(t, "PEM CA")
	cert, key := ca.Issue(t, "x.example", nil, pftest.KeyECDSA256)
	cert2, key2 := ca.Issue(t, "y.example", nil, pftest.KeyECDSA256)
	rsaCert, rsaKey := ca.Issue(t, "r.example", nil, pftest.KeyRSA2048)
	o := "SNI data for x"
	abort := "error loading private keys and certificates from: SNI data for x: aborting TLS handshake"
	for _, tc := range []struct {
		name     string
		data     []byte
		chains   int
		problems []string
	}{
		{"key cert ca", cat(key, cert, ca.CertPEM), 1, nil},
		{"two types", cat(key, cert, rsaKey, rsaCert), 2, nil},
		{"empty", nil, 0, []string{"No PEM data in " + o, abort}},
		{"key only", key, 0, []string{"No certs for key at index 1 in " + o, abort}},
		{"two keys", cat(key, rsaKey, rsaCert), 0, []string{
			"error loading certificate chain: key at index 1 in " + o + " not followed by a certificate", abort}},
		{"mismatch", cat(key, cert2), 0, []string{"key at index 1 in " + o + " does not match next certificate", abort}},
		{"mismatch first", cat(key2, cert, rsaKey, rsaCert), 0, []string{
			"error loading certificate chain: key at index 1 in " + o + " does not match the certificate", abort}},
		{"same type twice", cat(key, cert, key2, cert2), 0, []string{"key at index 3 in " + o + " does not match next certificate", abort}},
		{"other PEM", cat([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), key, cert), 1, []string{
			"loading " + o + ": ignoring PEM type: X509 CRL"}},
	} {
		certs, problems := loadPEMChains(tc.data, o)
		if len(certs) != tc.chains || strings.Join(problems, "\n") != strings.Join(tc.problems, "\n") {
			t.Errorf("%s: %d chains, problems\n%s\nwant %d,\n%s", tc.name, len(certs), strings.Join(problems, "\n"), tc.chains, strings.Join(tc.problems, "\n"))
		}
	}
}

func TestValidHostname(t *testing.T) {
	long := strings.Repeat("a", 63)
	for name, want := range map[string]bool{
		"mx.example.com": true, "a": true, "x_y.example": true, "1a": true, "a-1.b": true,
		"": false, "1.2.3.4": false, "123": false, "a..b": false, ".a": false, "a.": false,
		"-a": false, "a-": false, "a-.b": false, "a b": false, "a*.b": false, "ä.de": false,
		long + ".x": true, long + "a.x": false, strings.Repeat(long+".", 4) + "abc": false,
	} {
		if got := ValidHostname(name); got != want {
			t.Errorf("ValidHostname(%q) = %v, want %v", name, got, want)
		}
	}
}

// sniLog records log lines with their severity prefixes.
type sniLog struct{ lines *[]string }

func (l sniLog) add(prefix, format string, a []any) {
	*l.lines = append(*l.lines, prefix+fmt.Sprintf(format, a...))
}
func (l sniLog) Infof(format string, a ...any)  { l.add("info: ", format, a) }
func (l sniLog) Warnf(format string, a ...any)  { l.add("warning: ", format, a) }
func (l sniLog) Errorf(format string, a ...any) { l.add("error: ", format, a) }
func (l sniLog) Fatalf(format string, a ...any) { l.add("fatal: ", format, a) }

// TestSNICacheByData: the parsed chains are kept by data, whatever the
// case of the name that found them; problems name the SNI as sent.
func TestSNICacheByData(t *testing.T) {
	ca := pftest.NewCA(t, "Cache CA")
	cert, key := ca.Issue(t, "ok.example", nil, pftest.KeyECDSA256)
	table := &fakeSNI{m: map[string]string{"ok.example": string(cat(key, cert)), "bad.example": string(cert)}}
	var logs []string
	srv := &Server{}
	srv.SetSNI(table, sniLog{&logs})
	for _, name := range []string{"ok.example", "OK.Example", "bad.example", "BAD.example"} {
		certs, err := srv.sni.choose(name, "[192.0.2.1]:25")
		if (err == nil) != strings.HasPrefix(strings.ToLower(name), "ok") || (err == nil && len(certs) != 1) {
			t.Errorf("%s: %d chains, %v", name, len(certs), err)
		}
	}
	if n := len(srv.sni.cache); n != 2 {
		t.Errorf("%d cache entries, want 2", n)
	}
	want := []string{
		"warning: error loading chain from SNI data for bad.example: key not first",
		"warning: error loading private keys and certificates from: SNI data for bad.example: aborting TLS handshake",
		"warning: error loading chain from SNI data for BAD.example: key not first",
		"warning: error loading private keys and certificates from: SNI data for BAD.example: aborting TLS handshake",
	}
	if strings.Join(logs, "\n") != strings.Join(want, "\n") {
		t.Errorf("logs\n%s\nwant\n%s", strings.Join(logs, "\n"), strings.Join(want, "\n"))
	}
}
