package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// hostileChain is what a hostile remote server sends: a
// leaf and 31 CA certificates that all share one subject name and one
// key identifier, so that neither the name nor the AKID/SKID pair tells
// the issuers apart, sent in the order that makes every real issuer the
// last candidate a greedy search tries. P-521 keys make each signature
// check as dear as Go's verification gets.
type hostileChain struct {
	chain []*x509.Certificate // as sent: leaf, then certs[31] … certs[1]
	tls   tls.Certificate
}

var (
	hostileOnce sync.Once
	hostile     hostileChain
)

const hostileCAs = maxPeerChain - 1

func hostileServerChain(t testing.TB) hostileChain {
	hostileOnce.Do(func() {
		now := time.Now()
		skid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		// certs[i] (i ≥ 1) is a CA signed by keys[i+1]; certs[hostileCAs] is
		// self-signed; certs[0] is the leaf, signed by keys[1].
		certs, keys := pftest.ForgeChain(t, hostileCAs, pftest.KeyECDSA521, func(i int) *x509.Certificate {
			if i == 0 {
				return &x509.Certificate{Subject: pkix.Name{CommonName: "mx.example.com"},
					NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true,
					DNSNames: []string{"mx.example.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			}
			return &x509.Certificate{Subject: pkix.Name{CommonName: "Hostile CA"},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
				BasicConstraintsValid: true, IsCA: true, SubjectKeyId: skid}
		})
		hostile.chain = []*x509.Certificate{certs[0]}
		hostile.tls = tls.Certificate{Certificate: [][]byte{certs[0].Raw}, PrivateKey: keys[0], Leaf: certs[0]}
		for i := hostileCAs; i >= 1; i-- {
			hostile.chain = append(hostile.chain, certs[i])
			hostile.tls.Certificate = append(hostile.tls.Certificate, certs[i].Raw)
		}
	})
	return hostile
}

// hostileHandshake runs one client-role session against a loopback server
// that sends the hostile chain and returns the session, evaluated.
func hostileHandshake(tb testing.TB, cl *Client, level int, srv *tls.Config, tlsa ...TLSA) (*Session, Result) {
	tb.Helper()
	ln := pftest.ListenTCP(tb)
	defer ln.Close()
	done := pftest.AcceptOne(ln, func(c net.Conn) error {
		tc := tls.Server(c, srv)
		err := tc.Handshake()
		if err == nil {
			var b [1]byte
			_, _ = tc.Read(b[:]) // until the client closes
		}
		return err
	}, func(err error) error { return err })
	st := baseStart(level)
	st.MatchNames = []string{"hostname"}
	if len(tlsa) > 0 {
		st.DANEDomain, st.TLSA = "mx.example.com", tlsa
	}
	sess, err := cl.NewSession(st, &recLog{})
	if err != nil {
		tb.Fatal(err)
	}
	res := dialEvaluate(tb, sess, ln.Addr().String())
	<-done
	return sess, res
}

func hostileServerConfig(tb testing.TB) *tls.Config {
	h := hostileServerChain(tb)
	return &tls.Config{Certificates: []tls.Certificate{h.tls}, MaxVersion: tls.VersionTLS13}
}

// The hostile server: at every level, one session costs a
// bounded number of signature checks, and the chain is not trusted.
func TestHostileSameSubjectChainBounded(t *testing.T) {
	f := newFixture(t)
	cl, err := New(Settings{CAfile: f.caFile}, logs.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := hostileServerConfig(t)
	for _, level := range []int{LevelMay, LevelEncrypt, LevelVerify, LevelSecure} {
		sess, res := hostileHandshake(t, cl, level, srv)
		if sess.sigChecks > tlspolicy.SigCheckBudget {
			t.Errorf("level %d: %d signature checks, budget %d", level, sess.sigChecks, tlspolicy.SigCheckBudget)
		}
		if !slices.ContainsFunc(sess.log.(*recLog).lines, func(l string) bool {
			return strings.HasPrefix(l, "warning: mx.example.com[127.0.0.1]:25: server certificate chain verification stopped after ")
		}) {
			t.Errorf("level %d: no warning that the budget ran out in %q", level, sess.log.(*recLog).lines)
		}
		if res.PeerStatus&tlspolicy.PeerTrusted != 0 {
			t.Errorf("level %d: hostile chain reported TRUSTED (peer_status=%d)", level, res.PeerStatus)
		}
	}
}

// DANE: a trust-anchor record of a bare P-521 key that signed nothing
// makes every certificate of the chain a candidate; the checks still come
// out of the one budget.
func TestHostileChainDANEBounded(t *testing.T) {
	key := pftest.ECKey(t, pftest.KeyECDSA521)
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	records := []TLSA{tlsa(2, 1, 0, spki)}
	srv := hostileServerConfig(t)
	for _, level := range []int{LevelDane, LevelDaneOnly} {
		sess, res := hostileHandshake(t, &Client{}, level, srv, records...)
		if sess.sigChecks > tlspolicy.SigCheckBudget {
			t.Errorf("level %d: %d signature checks, budget %d", level, sess.sigChecks, tlspolicy.SigCheckBudget)
		}
		if res.PeerStatus&tlspolicy.PeerMatched != 0 {
			t.Errorf("level %d: hostile chain matched a TLSA record", level)
		}
	}
}

// BenchmarkHostileServerHandshake is the CPU one client-role session
// costs against the hostile server (handshake, then verification); compare
// BenchmarkNormalServerHandshake.
func BenchmarkHostileServerHandshake(b *testing.B) {
	cl := &Client{}
	srv := hostileServerConfig(b)
	b.ResetTimer()
	for b.Loop() {
		hostileHandshake(b, cl, LevelMay, srv)
	}
}

// BenchmarkNormalServerHandshake: the same with the hostile chain's leaf
// and its one real issuer.
func BenchmarkNormalServerHandshake(b *testing.B) {
	h := hostileServerChain(b)
	cert := h.tls
	cert.Certificate = [][]byte{h.tls.Certificate[0], h.tls.Certificate[len(h.tls.Certificate)-1]}
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	cl := &Client{}
	b.ResetTimer()
	for b.Loop() {
		hostileHandshake(b, cl, LevelMay, srv)
	}
}
