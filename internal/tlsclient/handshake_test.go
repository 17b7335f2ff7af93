package tlsclient

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// recLog records log lines as Postfix would print them.
type recLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *recLog) Infof(format string, a ...any)  { l.add(fmt.Sprintf(format, a...)) }
func (l *recLog) Warnf(format string, a ...any)  { l.add("warning: " + fmt.Sprintf(format, a...)) }
func (l *recLog) Errorf(format string, a ...any) { l.add("error: " + fmt.Sprintf(format, a...)) }
func (l *recLog) Fatalf(format string, a ...any) { l.add("fatal: " + fmt.Sprintf(format, a...)) }
func (l *recLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

// serverCert is what a test server presents: PEM chain (leaf first), key.
type serverCert struct {
	chain []byte
	key   []byte
	der   []byte // leaf DER
}

// fixture holds the test PKI: "Test CA" (in CAfile), "Other CA" (not),
// "Test Intermediate" under Test CA, and server certificates.
type fixture struct {
	dir    string
	ca     *pftest.CA
	other  *pftest.CA
	inter  *pftest.CA
	certs  map[string]serverCert
	caFile string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), certs: map[string]serverCert{}}
	f.ca = pftest.NewCA(t, "Test CA")
	f.other = pftest.NewCA(t, "Other CA")
	f.inter = f.ca.Intermediate(t, "Test Intermediate")
	past := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := func(name string, ca *pftest.CA, l pftest.Leaf, extra ...[]byte) {
		c, k, der := ca.IssueLeaf(t, l)
		for _, e := range extra {
			c = append(c, e...)
		}
		f.certs[name] = serverCert{chain: c, key: k, der: der}
	}
	mx := []string{"mx.example.com"}
	leaf("good", f.ca, pftest.Leaf{CN: "mx.example.com", DNSNames: mx})
	leaf("wrongname", f.ca, pftest.Leaf{CN: "other.example.net", DNSNames: []string{"other.example.net"}})
	leaf("mail", f.ca, pftest.Leaf{CN: "mail.example.com", DNSNames: []string{"mail.example.com"}})
	leaf("apex", f.ca, pftest.Leaf{CN: "example.com", DNSNames: []string{"example.com"}})
	leaf("wildcard", f.ca, pftest.Leaf{CN: "wild.example.com", DNSNames: []string{"*.example.com"}})
	leaf("cnonly", f.ca, pftest.Leaf{CN: "mx.example.com"})
	leaf("expired", f.ca, pftest.Leaf{CN: "mx.example.com", DNSNames: mx, NotBefore: past, NotAfter: past.AddDate(1, 0, 0)})
	leaf("notyet", f.ca, pftest.Leaf{CN: "mx.example.com", DNSNames: mx, NotBefore: time.Date(2098, 1, 1, 0, 0, 0, 0, time.UTC)})
	leaf("untrusted", f.other, pftest.Leaf{CN: "mx.example.com", DNSNames: mx})
	leaf("clientonly", f.ca, pftest.Leaf{CN: "mx.example.com", DNSNames: mx, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	leaf("chain", f.inter, pftest.Leaf{CN: "mx.example.com", DNSNames: mx}, f.inter.CertPEM)
	leaf("chainfull", f.inter, pftest.Leaf{CN: "mx.example.com", DNSNames: mx}, f.inter.CertPEM, f.ca.CertPEM)
	leaf("leafonly", f.inter, pftest.Leaf{CN: "mx.example.com", DNSNames: mx})
	leaf("withca", f.ca, pftest.Leaf{CN: "mx.example.com", DNSNames: mx}, f.ca.CertPEM)
	leaf("rsa", f.ca, pftest.Leaf{CN: "rsa.example.com", DNSNames: mx, KeyType: pftest.KeyRSA2048})
	c, k := pftest.SelfSigned(t, "mx.example.com", pftest.KeyEd25519)
	f.certs["selfsigned"] = serverCert{chain: c, key: k, der: derOf(t, c)}
	c, k, der := f.ca.IssueLeaf(t, pftest.Leaf{CN: "expired-self", NotBefore: past, NotAfter: past.AddDate(1, 0, 0)})
	f.certs["expiredee"] = serverCert{chain: c, key: k, der: der}

	f.caFile = filepath.Join(f.dir, "ca.pem")
	cc, ck, _ := f.ca.IssueLeaf(t, pftest.Leaf{CN: "client.example.com"})
	pftest.WriteFiles(t, f.dir, map[string][]byte{"ca.pem": f.ca.CertPEM, "client.pem": append(cc, ck...)})
	return f
}

func derOf(t *testing.T, pemData []byte) []byte {
	t.Helper()
	certs, err := parsePEMCerts(pemData)
	if err != nil || len(certs) == 0 {
		t.Fatalf("parse PEM: %v", err)
	}
	return certs[0].Raw
}

func spkiOf(der []byte) []byte {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil // the test using it then fails
	}
	return c.RawSubjectPublicKeyInfo
}

func sum(alg string, data []byte) []byte {
	switch alg {
	case "md5":
		s := md5.Sum(data)
		return s[:]
	case "sha1":
		s := sha1.Sum(data)
		return s[:]
	case "sha512":
		s := sha512.Sum512(data)
		return s[:]
	}
	s := sha256.Sum256(data)
	return s[:]
}

// serverResult is what the test server saw.
type serverResult struct {
	sni        string
	clientCert bool
	err        error
}

// serve runs a one-connection TLS server on loopback and returns its
// address and a channel with what it saw once the client has closed.
func serve(t *testing.T, sc serverCert, tls13, askCert bool) (string, <-chan serverResult) {
	t.Helper()
	cert, err := tls.X509KeyPair(sc.chain, sc.key)
	if err != nil {
		t.Fatal(err)
	}
	ln := pftest.ListenTCP(t)
	t.Cleanup(func() { ln.Close() })
	var sni string
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni = h.ServerName
			return nil, nil
		},
	}
	if !tls13 { // fixed version and suites keep the golden log lines stable
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	}
	if askCert {
		cfg.ClientAuth = tls.RequestClientCert
	}
	out := pftest.AcceptOne(ln, func(conn net.Conn) serverResult {
		tc := tls.Server(conn, cfg)
		err := tc.Handshake()
		res := serverResult{sni: sni, err: err}
		if err == nil {
			res.clientCert = len(tc.ConnectionState().PeerCertificates) > 0
			_, _ = io.Copy(io.Discard, tc) // until the client closes
		}
		return res
	}, func(err error) serverResult { return serverResult{err: err} })
	return ln.Addr().String(), out
}

func baseStart(level int) Start {
	return Start{
		Level: level, NextHop: "example.com", Host: "mx.example.com",
		NamAddr: "mx.example.com[127.0.0.1]:25", ServerID: "smtp&example.com&mx.example.com&127.0.0.1&",
		Helo: "mx.example.com", Protocols: ">=TLSv1", CipherGrade: "medium", CipherExclusions: "eNULL",
		MDAlg: "sha256", LogParam: "smtp_tls_loglevel", LogLevel: "routine,certmatch", VerifyDepth: 9,
	}
}

type hsCase struct {
	name   string
	server string // fixture certificate
	level  int
	start  func(f *fixture, st *Start)
	set    func(f *fixture, s *Settings)
	tls13  bool // not in the golden file (cipher choice depends on the CPU)
	ask    bool // server asks for a client certificate

	status int
	level2 int // expected effective level; 0 = same as level
	fail   bool
	sni    string
}

func tlsa(usage, selector, mtype int, data []byte) TLSA {
	return TLSA{Usage: usage, Selector: selector, MType: mtype, Data: data}
}

const (
	present  = tlspolicy.PeerPresent
	trusted  = tlspolicy.PeerPresent | tlspolicy.PeerTrusted
	matched  = trusted | tlspolicy.PeerMatched
	verified = matched | tlspolicy.PeerSecured
)

func withTLSA(records func(f *fixture) []TLSA) func(f *fixture, st *Start) {
	return func(f *fixture, st *Start) { st.TLSA = records(f) }
}

func names(n ...string) func(f *fixture, st *Start) {
	return func(f *fixture, st *Start) { st.MatchNames = n }
}

// dialEvaluate runs sess's handshake with the server at addr, closes the
// connection and returns the session's evaluation of it.
func dialEvaluate(tb testing.TB, sess *Session, addr string) Result {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tc := tls.Client(conn, sess.Config())
	if err := tc.Handshake(); err != nil {
		tb.Fatalf("handshake: %v", err)
	}
	res := sess.Evaluate(tc.ConnectionState())
	tc.Close()
	return res
}

// daneMX is a case's start for a DANE lookup of mx.example.com, matched
// by that name, with the TLSA records recs returns.
func daneMX(recs func(f *fixture) []TLSA) func(*fixture, *Start) {
	return func(f *fixture, st *Start) {
		st.DANEDomain, st.MatchNames = "mx.example.com", []string{"mx.example.com"}
		st.TLSA = recs(f)
	}
}

var handshakeCases = []hsCase{
	// may / encrypt: TRUSTED only, never a failure.
	{name: "may trusted", server: "good", level: LevelMay, status: trusted},
	{name: "may untrusted", server: "untrusted", level: LevelMay, status: present},
	{name: "may untrusted logged", server: "untrusted", level: LevelMay, status: present,
		start: func(f *fixture, st *Start) { st.LogLevel = "1,untrusted" }},
	{name: "encrypt self-signed", server: "selfsigned", level: LevelEncrypt, status: present},
	{name: "encrypt wrong name still trusted", server: "wrongname", level: LevelEncrypt, status: trusted},
	{name: "may no CAfile", server: "good", level: LevelMay, status: present,
		set: func(f *fixture, s *Settings) { s.CAfile = "" }},
	{name: "may CApath", server: "good", level: LevelMay, status: trusted,
		set: func(f *fixture, s *Settings) { s.CAfile, s.CApath = "", f.dir }},

	// verify / secure: chain + names.
	{name: "verify hostname", server: "good", level: LevelVerify, status: verified, start: names("hostname")},
	{name: "verify cn fallback", server: "cnonly", level: LevelVerify, status: verified, start: names("hostname")},
	{name: "verify wrong name", server: "wrongname", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify untrusted CA", server: "untrusted", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify self-signed", server: "selfsigned", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify expired", server: "expired", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify not yet valid", server: "notyet", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify wrong purpose", server: "clientonly", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify intermediate sent", server: "chain", level: LevelVerify, status: verified, start: names("hostname")},
	{name: "verify root sent too", server: "chainfull", level: LevelVerify, status: verified, start: names("hostname")},
	{name: "verify intermediate missing", server: "leafonly", level: LevelVerify, status: present, fail: true, start: names("hostname")},
	{name: "verify chain too long", server: "chain", level: LevelVerify, status: present, fail: true,
		start: func(f *fixture, st *Start) { st.MatchNames, st.VerifyDepth = []string{"hostname"}, 1 }},
	{name: "verify literal name", server: "wrongname", level: LevelVerify, status: verified, start: names("other.example.net")},
	{name: "verify no names", server: "good", level: LevelVerify, status: present, fail: true, start: names()},
	{name: "verify sni hostname", server: "good", level: LevelVerify, status: verified, sni: "mx.example.com",
		start: func(f *fixture, st *Start) { st.MatchNames, st.SNI = []string{"hostname"}, "hostname" }},
	{name: "secure nexthop", server: "apex", level: LevelSecure, status: verified, start: names("nexthop", "dot-nexthop")},
	{name: "secure dot-nexthop", server: "mail", level: LevelSecure, status: verified, start: names("nexthop", "dot-nexthop")},
	{name: "secure dot-nexthop not apex", server: "apex", level: LevelSecure, status: present, fail: true, start: names("dot-nexthop")},
	{name: "secure wildcard", server: "wildcard", level: LevelSecure, status: verified, start: names("hostname")},
	// 3.6+ leave name checks to OpenSSL: "*" is one label, whatever
	// tls_wildcard_matches_multiple_labels says.
	{name: "secure wildcard one label only", server: "wildcard", level: LevelSecure, status: present, fail: true,
		start: func(f *fixture, st *Start) { st.Host, st.MatchNames = "a.mx.example.com", []string{"hostname"} }},
	// 3.4 and 3.5 match names themselves: the parameter decides.
	{name: "secure wildcard multi label 3.5", server: "wildcard", level: LevelSecure, status: verified,
		start: func(f *fixture, st *Start) {
			st.Host, st.MatchNames, st.PostfixNameMatching = "a.mx.example.com", []string{"hostname"}, true
		}},
	{name: "secure wildcard single label 3.5", server: "wildcard", level: LevelSecure, status: present, fail: true,
		start: func(f *fixture, st *Start) {
			st.Host, st.MatchNames, st.PostfixNameMatching = "a.mx.example.com", []string{"hostname"}, true
		},
		set: func(f *fixture, s *Settings) { s.WildcardMultipleLabels = false }},
	{name: "secure trust anchor file", server: "untrusted", level: LevelSecure, status: verified,
		start: func(f *fixture, st *Start) {
			st.MatchNames = []string{"hostname"}
			st.TLSA = []TLSA{tlsa(2, 0, 0, f.other.Cert.Raw), tlsa(3, 0, 0, f.other.Cert.Raw)}
		}},
	{name: "secure trust anchor file mismatch", server: "good", level: LevelSecure, status: present, fail: true,
		start: func(f *fixture, st *Start) {
			st.MatchNames = []string{"hostname"}
			st.TLSA = []TLSA{tlsa(2, 0, 0, f.other.Cert.Raw), tlsa(3, 0, 0, f.other.Cert.Raw)}
		}},

	// fingerprint: mtype 255 over the certificate or the public key.
	{name: "fingerprint sha256 cert", server: "untrusted", level: LevelFingerprint, status: verified,
		start: withTLSA(func(f *fixture) []TLSA {
			return []TLSA{tlsa(3, 0, 255, sum("sha256", f.certs["untrusted"].der))}
		})},
	{name: "fingerprint sha256 pkey", server: "untrusted", level: LevelFingerprint, status: verified,
		start: withTLSA(func(f *fixture) []TLSA {
			return []TLSA{tlsa(3, 1, 255, sum("sha256", spkiOf(f.certs["untrusted"].der)))}
		})},
	{name: "fingerprint md5", server: "selfsigned", level: LevelFingerprint, status: verified,
		start: func(f *fixture, st *Start) {
			st.MDAlg = "md5"
			st.TLSA = []TLSA{tlsa(3, 0, 255, sum("md5", f.certs["selfsigned"].der))}
		}},
	{name: "fingerprint sha1", server: "selfsigned", level: LevelFingerprint, status: verified,
		start: func(f *fixture, st *Start) {
			st.MDAlg = "sha1"
			st.TLSA = []TLSA{tlsa(3, 0, 255, sum("sha1", f.certs["selfsigned"].der))}
		}},
	// No records at all (posttls-finger -X drops a fingerprint it cannot
	// use): no DANE, no warning; the chain is checked, nothing matches.
	{name: "fingerprint without records, trusted chain", server: "good", level: LevelFingerprint, status: trusted, fail: true},
	{name: "fingerprint without records, self-signed", server: "selfsigned", level: LevelFingerprint, status: present, fail: true},
	{name: "fingerprint sha512", server: "selfsigned", level: LevelFingerprint, status: verified,
		start: func(f *fixture, st *Start) {
			st.MDAlg = "sha512"
			st.TLSA = []TLSA{tlsa(3, 0, 255, sum("sha512", f.certs["selfsigned"].der))}
		}},
	{name: "fingerprint mismatch", server: "good", level: LevelFingerprint, status: present, fail: true,
		start: withTLSA(func(f *fixture) []TLSA {
			return []TLSA{tlsa(3, 0, 255, sum("sha256", f.certs["wrongname"].der)), tlsa(3, 1, 255, sum("sha256", spkiOf(f.certs["wrongname"].der)))}
		})},
	{name: "fingerprint wrong digest length", server: "good", level: LevelFingerprint, status: present, fail: true,
		start: withTLSA(func(f *fixture) []TLSA {
			return []TLSA{tlsa(3, 0, 255, sum("sha1", f.certs["good"].der))}
		})},

	// DANE (RFC 7672).
	{name: "dane EE spki sha256", server: "untrusted", level: LevelDane, status: verified, sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(3, 1, 1, sum("sha256", spkiOf(f.certs["untrusted"].der)))}
		}},
	{name: "dane EE cert sha512 expired ok", server: "expiredee", level: LevelDane, status: verified, sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(3, 0, 2, sum("sha512", f.certs["expiredee"].der))}
		}},
	{name: "dane EE full cert wrong name ok", server: "wrongname", level: LevelDaneOnly, status: verified, sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(3, 0, 0, f.certs["wrongname"].der)}
		}},
	{name: "dane EE mismatch", server: "good", level: LevelDane, status: present, fail: true, sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(3, 1, 1, sum("sha256", spkiOf(f.certs["wrongname"].der)))}
		}},
	{name: "dane TA digest in chain", server: "withca", level: LevelDane, status: verified, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 0, 1, sum("sha256", f.ca.Cert.Raw))} })},
	{name: "dane TA full cert not sent", server: "good", level: LevelDane, status: verified, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 0, 0, f.ca.Cert.Raw)} })},
	{name: "dane TA bare key", server: "chain", level: LevelDane, status: verified, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 1, 0, f.ca.Cert.RawSubjectPublicKeyInfo)} })},
	{name: "dane TA wrong name", server: "wrongname", level: LevelDane, status: present, fail: true, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 0, 0, f.ca.Cert.Raw)} })},
	{name: "dane TA expired leaf", server: "expired", level: LevelDane, status: present, fail: true, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 0, 0, f.ca.Cert.Raw)} })},
	{name: "dane TA mismatch", server: "chain", level: LevelDane, status: present, fail: true, sni: "mx.example.com",
		start: daneMX(func(f *fixture) []TLSA { return []TLSA{tlsa(2, 0, 1, sum("sha256", f.other.Cert.Raw))} })},
	{name: "dane all unusable falls back", server: "untrusted", level: LevelDane, level2: LevelEncrypt, status: present,
		sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(1, 0, 1, sum("sha256", nil)), tlsa(3, 1, 7, []byte{1, 2}), tlsa(3, 1, 1, []byte{1})}
		}},
	{name: "dane-only all unusable fails", server: "untrusted", level: LevelDaneOnly, status: present, fail: true,
		sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(0, 0, 1, sum("sha256", nil))}
		}},
	{name: "halfdane EE match", server: "untrusted", level: LevelHalfDane, status: matched, sni: "mx.example.com",
		start: func(f *fixture, st *Start) {
			st.DANEDomain = "mx.example.com"
			st.TLSA = []TLSA{tlsa(3, 1, 1, sum("sha256", spkiOf(f.certs["untrusted"].der)))}
		}},

	// Details.
	{name: "verbose loglevel 2", server: "good", level: LevelVerify, status: verified, start: func(f *fixture, st *Start) {
		st.MatchNames, st.LogLevel, st.SNI = []string{"hostname"}, "2", "nexthop"
	}, sni: "example.com"},
	{name: "loglevel 0 silent", server: "untrusted", level: LevelMay, status: present,
		start: func(f *fixture, st *Start) { st.LogLevel = "0" }},
	{name: "client certificate", server: "good", level: LevelMay, status: trusted, ask: true,
		set: func(f *fixture, s *Settings) { s.CertFile = filepath.Join(f.dir, "client.pem") }},
	{name: "tls13 rsa with client certificate", server: "rsa", level: LevelVerify, status: verified, tls13: true,
		start: names("hostname"), ask: true,
		set: func(f *fixture, s *Settings) { s.CertFile = filepath.Join(f.dir, "client.pem") }},
}

func TestHandshakes(t *testing.T) {
	f := newFixture(t)
	var golden strings.Builder
	for _, tc := range handshakeCases {
		t.Run(tc.name, func(t *testing.T) {
			set := Settings{CAfile: f.caFile, WildcardMultipleLabels: true}
			if tc.set != nil {
				tc.set(f, &set)
			}
			cl, err := New(set, logs.Lines(func(s string) { t.Errorf("unexpected warning: %s", s) }))
			if err != nil {
				t.Fatal(err)
			}
			st := baseStart(tc.level)
			if tc.start != nil {
				tc.start(f, &st)
			}
			log := &recLog{}
			sess, err := cl.NewSession(st, log)
			if err != nil {
				t.Fatal(err)
			}
			addr, seen := serve(t, f.certs[tc.server], tc.tls13, tc.ask)
			res := dialEvaluate(t, sess, addr)
			srv := <-seen
			if srv.err != nil {
				t.Fatalf("server: %v", srv.err)
			}

			wantLevel := tc.level
			if tc.level2 != 0 {
				wantLevel = tc.level2
			}
			if res.PeerStatus != tc.status || res.Info.PeerStatus != tc.status {
				t.Errorf("peer_status = %d, want %d (log %q)", res.PeerStatus, tc.status, log.lines)
			}
			if res.Level != wantLevel || res.Info.Level != wantLevel {
				t.Errorf("level = %d, want %d", res.Level, wantLevel)
			}
			if res.Failed() != tc.fail {
				t.Errorf("failed = %v (%q), want %v; log %q", res.Failed(), res.Reason, tc.fail, log.lines)
			}
			if tc.fail && res.Reason != "Server certificate not verified" {
				t.Errorf("reason = %q", res.Reason)
			}
			if srv.sni != tc.sni {
				t.Errorf("SNI = %q, want %q", srv.sni, tc.sni)
			}
			if srv.clientCert != tc.ask {
				t.Errorf("server got client certificate = %v, want %v", srv.clientCert, tc.ask)
			}
			ctx := res.Info.Context(st.NamAddr)
			if len(ctx) != 22 || ctx[4].Value != fmt.Sprint(wantLevel) || ctx[5].Value != fmt.Sprint(tc.status) {
				t.Errorf("context = %v", ctx)
			}
			if tc.tls13 {
				want := "Verified TLS connection established to mx.example.com[127.0.0.1]:25: TLSv1.3 with cipher "
				last := log.lines[len(log.lines)-1]
				if !strings.HasPrefix(last, want) || !strings.HasSuffix(last, " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256 client-signature ED25519") {
					t.Errorf("summary = %q", last)
				}
				return
			}
			fmt.Fprintf(&golden, "== %s\npeer_status=%d level=%d reason=%q\n", tc.name, res.PeerStatus, res.Level, res.Reason)
			for _, l := range log.lines {
				golden.WriteString(l + "\n")
			}
		})
	}
	pftest.Golden(t, "handshakes.golden", golden.String(), *pftest.Update)
}
