package tlsclient

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// Chain building against crypto/x509: random small PKIs (names drawn from
// three, so that many certificates share one; key identifiers sometimes
// all alike), a random part of the roots in the trust store, the peer's
// certificates shuffled, some twice. Every certificate has its own key, so
// a chain, when there is one, is unique and both must agree on it, unless
// our budget ran out, which may only make a chain fail, never pass. The
// budget holds in every case.
func FuzzChainBuilding(f *testing.F) {
	for seed := range uint64(64) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		checkRandomPKI(t, seed)
	})
}

var (
	propKeysOnce sync.Once
	propKeys     []ed25519.PrivateKey
)

const propMaxCerts = 10

func checkRandomPKI(t *testing.T, seed uint64) {
	propKeysOnce.Do(func() {
		for range propMaxCerts + 1 {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			propKeys = append(propKeys, k)
		}
	})
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Now()
	names := []string{"A", "B", "C"}
	sameSKID := r.IntN(3) == 0
	type ca struct {
		cert *x509.Certificate
		key  ed25519.PrivateKey
	}
	var cas []ca
	nRoots := 1 + r.IntN(2)
	nInter := r.IntN(propMaxCerts - nRoots)
	mk := func(i int, tpl *x509.Certificate, parent ca) *x509.Certificate {
		tpl.SerialNumber = big.NewInt(int64(i + 1))
		tpl.NotBefore, tpl.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		if sameSKID && tpl.IsCA {
			tpl.SubjectKeyId = []byte{1, 1, 1, 1}
		}
		p := parent.cert
		if p == nil {
			p = tpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, p, propKeys[i].Public(), parent.key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := range nRoots + nInter {
		tpl := &x509.Certificate{Subject: pkix.Name{CommonName: names[r.IntN(len(names))]},
			BasicConstraintsValid: true, IsCA: true}
		parent := ca{key: propKeys[i]} // self-signed root
		if i >= nRoots {
			parent = cas[r.IntN(len(cas))]
		}
		cas = append(cas, ca{cert: mk(i, tpl, parent), key: propKeys[i]})
	}
	leaf := mk(propMaxCerts, &x509.Certificate{Subject: pkix.Name{CommonName: "mx.example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, cas[r.IntN(len(cas))])

	var store []*x509.Certificate
	pool := x509.NewCertPool()
	for _, c := range cas[:nRoots] {
		if r.IntN(3) > 0 {
			store = append(store, c.cert)
			pool.AddCert(c.cert)
		}
	}
	var sent []*x509.Certificate
	for i, c := range cas {
		if i >= nRoots || r.IntN(3) == 0 {
			sent = append(sent, c.cert)
			if r.IntN(4) == 0 {
				sent = append(sent, c.cert) // twice
			}
		}
	}
	r.Shuffle(len(sent), func(i, j int) { sent[i], sent[j] = sent[j], sent[i] })
	chain := append([]*x509.Certificate{leaf}, sent...)

	cl := &Client{roots: store}
	sess, err := cl.NewSession(baseStart(LevelMay), &recLog{})
	if err != nil {
		t.Fatal(err)
	}
	v := sess.verify(chain, now)
	if sess.sigChecks > tlspolicy.SigCheckBudget {
		t.Fatalf("seed %d: %d signature checks, budget %d", seed, sess.sigChecks, tlspolicy.SigCheckBudget)
	}
	inter := x509.NewCertPool()
	for _, c := range sent {
		inter.AddCert(c)
	}
	_, xerr := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	ours := v.first == nil
	switch {
	case ours && xerr != nil:
		t.Fatalf("seed %d: we trust a chain crypto/x509 refuses: %v", seed, xerr)
	case !ours && xerr == nil && !v.exhausted:
		t.Fatalf("seed %d: crypto/x509 trusts a chain we refuse: error %d at depth %d", seed, v.first.code, v.first.depth)
	}
}
