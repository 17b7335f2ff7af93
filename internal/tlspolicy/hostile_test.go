package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// hostileClientCert is a hostile unauthenticated client: a leaf
// whose issuer name and authority key identifier are shared by 120 CA
// certificates with P-521 keys (about 60 KB) that sign nothing.
var (
	hostileClientOnce sync.Once
	hostileClient     tls.Certificate
)

const hostileIntermediates = 120

func hostileClientCert() tls.Certificate {
	hostileClientOnce.Do(func() {
		now := time.Now()
		name := pkix.Name{CommonName: "Hostile CA"}
		skid := []byte{9, 8, 7, 6, 5, 4, 3, 2}
		caKey, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		junkKey, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: name, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true, IsCA: true, SubjectKeyId: skid}
		leafTpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client.example.test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, leafTpl, ca, &leafKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		hostileClient = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey}
		for i := range hostileIntermediates {
			tpl := *ca
			tpl.SerialNumber = big.NewInt(int64(100 + i))
			der, err := x509.CreateCertificate(rand.Reader, &tpl, &tpl, &junkKey.PublicKey, junkKey)
			if err != nil {
				panic(err)
			}
			hostileClient.Certificate = append(hostileClient.Certificate, der)
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
	cert := hostileClientCert()
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
	benchClientHandshake(b, hostileClientCert())
}

// BenchmarkNormalClientHandshake: the same with the leaf alone.
func BenchmarkNormalClientHandshake(b *testing.B) {
	c := hostileClientCert()
	c.Certificate = c.Certificate[:1]
	benchClientHandshake(b, c)
}

func benchClientHandshake(b *testing.B, cert tls.Certificate) {
	srv := hostileServer(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Client(c, clientWith(cert))
			go func() {
				defer tc.Close()
				var buf [1]byte
				_, _ = tc.Read(buf[:])
			}()
		}
	}()
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
