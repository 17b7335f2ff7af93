package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// A DANE-based level whose request carries no TLSA records (dane=0, or the
// 3.4/3.5 DANE form whose records props.go drops) must never report
// MATCHED for a merely CA-trusted certificate with an unrelated name.
func TestDANELevelsWithoutRecordsNeverMatch(t *testing.T) {
	f := newFixture(t)
	for _, level := range []int{LevelFingerprint, LevelDane, LevelDaneOnly, LevelHalfDane} {
		cl, err := New(Settings{CAfile: f.caFile, WildcardMultipleLabels: true}, logs.Discard)
		if err != nil {
			t.Fatal(err)
		}
		st := baseStart(level)
		st.DANEDomain = "mx.example.com"
		sess, err := cl.NewSession(st, &recLog{})
		if err != nil {
			t.Fatal(err)
		}
		addr, seen := serve(t, f.certs["wrongname"], false, false)
		res := dialEvaluate(t, sess, addr)
		<-seen
		if res.PeerStatus&tlspolicy.PeerMatched != 0 && res.Level == level {
			t.Errorf("level %d without TLSA records: peer_status=%d (MATCHED) for other.example.net, level %d", level, res.PeerStatus, res.Level)
		}
	}
}

// Two store certificates that issue each other (no self-signed root):
// buildChain runs out of iterations without recording an error, and the
// peer is reported TRUSTED and MATCHED.
func TestIssuerCycleIsNotTrusted(t *testing.T) {
	kA, kB, kL := pftest.ECKey(t, pftest.KeyECDSA256), pftest.ECKey(t, pftest.KeyECDSA256), pftest.ECKey(t, pftest.KeyECDSA256)
	now := time.Now()
	tmpl := func(serial int64, cn string, ca bool) *x509.Certificate {
		c := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), BasicConstraintsValid: true, IsCA: ca}
		if !ca {
			c.DNSNames = []string{"mx.example.com"}
		}
		return c
	}
	tA, tB := tmpl(1, "A", true), tmpl(2, "B", true)
	certA := pftest.Forge(t, tA, tB, &kA.PublicKey, kB) // A issued by B
	certB := pftest.Forge(t, tB, tA, &kB.PublicKey, kA) // B issued by A
	leaf := pftest.Forge(t, tmpl(3, "mx.example.com", false), certA, &kL.PublicKey, kA)

	cl := &Client{set: Settings{WildcardMultipleLabels: true}, roots: []*x509.Certificate{certA, certB}}
	st := baseStart(LevelSecure)
	st.MatchNames = []string{"hostname"}
	sess, err := cl.NewSession(st, &recLog{})
	if err != nil {
		t.Fatal(err)
	}
	res := sess.evaluate(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, now)
	if res.PeerStatus&(tlspolicy.PeerTrusted|tlspolicy.PeerMatched) != 0 {
		t.Errorf("chain without a trust anchor: peer_status=%d, want PRESENT only", res.PeerStatus)
	}
}

// A hostile server sends a long same-subject chain ordered so that chain
// building would scan it quadratically: the work is bounded, and the
// chain does not verify.
func TestLongHostileChainIsBounded(t *testing.T) {
	const n = 300 // before the bound: 5.4 s of signature checks
	now := time.Now()
	certs, _ := pftest.ForgeChain(t, n, pftest.KeyECDSA256, func(i int) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "X"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), BasicConstraintsValid: true, IsCA: true}
	})
	// leaf first, then the issuers in reverse order
	chain := []*x509.Certificate{certs[0]}
	for i := n; i >= 1; i-- {
		chain = append(chain, certs[i])
	}
	cl := &Client{}
	st := baseStart(LevelMay)
	sess, _ := cl.NewSession(st, &recLog{})
	start := time.Now()
	v := sess.verify(chain, now)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("verifying a %d-certificate chain took %v", len(chain), el)
	}
	if v.first == nil {
		t.Error("a hostile 301-certificate chain verified")
	}
}

// Client role: a server certificate whose CN has control characters is
// named neither in the context reply nor in the log lines; Postfix's
// warning says why.
func TestUnsafePeerCN(t *testing.T) {
	c := pftest.ForgeSelf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mx\r\nX-Injected: 1"}}).Leaf
	cl := &Client{}
	st := baseStart(LevelMay)
	st.LogLevel = "2"
	log := &recLog{}
	sess, err := cl.NewSession(st, log)
	if err != nil {
		t.Fatal(err)
	}
	res := sess.evaluate(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}, time.Now())
	if ctx := res.Info.Context(st.NamAddr); ctx[0].Value != "" {
		t.Errorf("peer_CN=%q", ctx[0].Value)
	}
	want := "warning: tls_text_name: mx.example.com[127.0.0.1]:25: non-printable content in peer subject CN"
	if !slices.Contains(log.lines, want) {
		t.Errorf("log %q lacks %q", log.lines, want)
	}
	for _, l := range log.lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("log line with a line break: %q", l)
		}
	}
}
