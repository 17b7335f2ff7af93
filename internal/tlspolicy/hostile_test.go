package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// hostileClientCert is a hostile unauthenticated client: a leaf
// whose issuer name and authority key identifier are shared by 120 CA
// certificates with P-521 keys (about 60 KB) that sign nothing.
var (
	hostileClientOnce sync.Once
	hostileClient     tls.Certificate
)

const hostileIntermediates = 120

func hostileClientCert(t testing.TB) tls.Certificate {
	hostileClientOnce.Do(func() {
		now := time.Now()
		skid := []byte{9, 8, 7, 6, 5, 4, 3, 2}
		caKey, junkKey, leafKey := pftest.ECKey(t, pftest.KeyECDSA521), pftest.ECKey(t, pftest.KeyECDSA521), pftest.ECKey(t, pftest.KeyECDSA256)
		ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Hostile CA"}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true, IsCA: true, SubjectKeyId: skid}
		leaf := pftest.Forge(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client.example.test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &leafKey.PublicKey, caKey)
		hostileClient = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey}
		for i := range hostileIntermediates {
			tpl := *ca
			tpl.SerialNumber = big.NewInt(int64(100 + i))
			hostileClient.Certificate = append(hostileClient.Certificate, pftest.Forge(t, &tpl, nil, &junkKey.PublicKey, junkKey).Raw)
		}
	})
	return hostileClient
}

// hostileServer asks for client certificates and has a CA store.
func hostileServer(t testing.TB) *Server {
	f := newFixture(t)
	s := f.settings()
	s.AskCcert, s.CAfile = true, f.caFile
	return mustServer(t, s)
}

// One handshake with the hostile client costs one bounded verification:
// at most SigCheckBudget signature checks, and the chain is not trusted.
func TestHostileClientChainBounded(t *testing.T) {
	srv := hostileServer(t)
	cert := hostileClientCert(t)
	res, _, err := handshake(t, srv, clientWith(cert))
	if err != nil || res.err != nil {
		t.Fatalf("handshake: %v / %v", err, res.err)
	}
	chain := res.state.PeerCertificates
	if len(chain) != hostileIntermediates+1 {
		t.Fatalf("server saw %d certificates", len(chain))
	}
	v := srv.VerifyPeer(chain, time.Now())
	if v.Checks > SigCheckBudget || v.Trusted {
		t.Errorf("verification: %d signature checks (budget %d), trusted %v", v.Checks, SigCheckBudget, v.Trusted)
	}
	if !v.Exhausted || v.LimitLine("[127.0.0.1]:25") == "" {
		t.Errorf("the budget ran out without a log line: %+v", v)
	}
	if lines := srv.VerifyTraceOf(v, chain, time.Now()); len(lines) > 2*MaxPeerChain+1 {
		t.Errorf("%d trace lines for one chain", len(lines))
	}
	info := ServerInfoWith(res.state, srv, nil, v)
	if info.PeerStatus&PeerTrusted != 0 || info.VerifyFailure != "untrusted issuer /CN=Hostile CA" {
		t.Errorf("peer_status %d, failure %q", info.PeerStatus, info.VerifyFailure)
	}
}

// BenchmarkHostileClientHandshake: CPU of one server-role session with the
// hostile client as a level-2 session spends it: the handshake, the
// verify trace and the context/summary description.
func BenchmarkHostileClientHandshake(b *testing.B) {
	benchClientHandshake(b, hostileClientCert(b))
}

// BenchmarkNormalClientHandshake: the same with the leaf alone.
func BenchmarkNormalClientHandshake(b *testing.B) {
	c := hostileClientCert(b)
	c.Certificate = c.Certificate[:1]
	benchClientHandshake(b, c)
}

func benchClientHandshake(b *testing.B, cert tls.Certificate) {
	srv := hostileServer(b)
	ln := pftest.ListenTCP(b)
	defer ln.Close()
	pftest.ServeEach(b, ln, func(c net.Conn) {
		tc := tls.Client(c, clientWith(cert))
		defer tc.Close()
		var buf [1]byte
		_, _ = tc.Read(buf[:])
	})
	b.ResetTimer()
	for b.Loop() {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		cfg, served := srv.SessionConfig()
		tc := tls.Server(conn, cfg)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		cs := tc.ConnectionState()
		v := srv.VerifyPeer(cs.PeerCertificates, time.Now()) // once, as internal/proxy does
		_ = srv.VerifyTraceOf(v, cs.PeerCertificates, time.Now())
		_ = ServerInfoWith(cs, srv, served(), v)
		tc.Close()
	}
}

// clientWith sends cert whatever CA names the server asks for.
func clientWith(cert tls.Certificate) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// Peer names that Postfix's tls_text_name refuses are left out of the
// context reply, with its warning; an issuer without a usable CN is named
// by its Organization.
func TestUnsafePeerNames(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name         string
		subject, iss pkix.Name
		peer, issuer string
		warnings     []string
	}{
		{"plain", pkix.Name{CommonName: "client.example.test"}, pkix.Name{CommonName: "Test CA"},
			"client.example.test", "Test CA", nil},
		{"control character", pkix.Name{CommonName: "evil\r\nname"}, pkix.Name{CommonName: "Test CA"},
			"", "Test CA", []string{"tls_text_name: [127.0.0.1]:25: non-printable content in peer subject CN"}},
		{"DEL", pkix.Name{CommonName: "evil\x7fname"}, pkix.Name{CommonName: "Test CA"},
			"", "Test CA", []string{"tls_text_name: [127.0.0.1]:25: non-printable content in peer subject CN"}},
		{"255 bytes", pkix.Name{CommonName: long[:255]}, pkix.Name{CommonName: "Test CA"}, long[:255], "Test CA", nil},
		{"256 bytes", pkix.Name{CommonName: long}, pkix.Name{CommonName: "Test CA"},
			"", "Test CA", []string{"tls_text_name: [127.0.0.1]:25: peer subject CN too long: 256"}},
		{"UTF-8 is printable", pkix.Name{CommonName: "Grüße"}, pkix.Name{CommonName: "Test CA"}, "Grüße", "Test CA", nil},
		{"issuer CN bad, Organization used", pkix.Name{CommonName: "c"},
			pkix.Name{CommonName: "CA\x01", Organization: []string{"Example Org"}},
			"c", "Example Org", []string{"tls_text_name: [127.0.0.1]:25: non-printable content in peer issuer CN"}},
		{"issuer CN and Organization bad", pkix.Name{CommonName: "c"},
			pkix.Name{CommonName: "CA\x01", Organization: []string{"Org\x1b[31m"}},
			"c", "", []string{"tls_text_name: [127.0.0.1]:25: non-printable content in peer issuer CN",
				"tls_text_name: [127.0.0.1]:25: non-printable content in peer issuer Organization"}},
	}
	key := pftest.ECKey(t, pftest.KeyECDSA256)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: tt.iss, NotBefore: time.Now(),
				NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true}
			c := pftest.Forge(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: tt.subject, NotBefore: time.Now(),
				NotAfter: time.Now().Add(time.Hour)}, ca, &key.PublicKey, key)
			info := ServerInfoWith(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}, &Server{Digest: "sha256"}, nil, nil)
			ctx := info.Context("[127.0.0.1]:25")
			if ctx[0].Value != tt.peer || ctx[1].Value != tt.issuer {
				t.Errorf("peer_CN=%q issuer_CN=%q, want %q %q", ctx[0].Value, ctx[1].Value, tt.peer, tt.issuer)
			}
			if got := info.NameWarnings("[127.0.0.1]:25"); !slices.Equal(got, tt.warnings) {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
}
