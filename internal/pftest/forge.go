package pftest

// Forged certificates: what NewCA and Issue do not make — chains whose
// CAs share one subject, names with control characters, issuers that
// sign nothing — from the test's own template, on fresh ECDSA keys.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

// ECKey returns a fresh ECDSA key of keyType (KeyECDSA256, KeyECDSA384
// or KeyECDSA521).
func ECKey(t testing.TB, keyType string) *ecdsa.PrivateKey {
	t.Helper()
	curve, ok := map[string]elliptic.Curve{KeyECDSA256: elliptic.P256(), KeyECDSA384: elliptic.P384(), KeyECDSA521: elliptic.P521()}[keyType]
	if !ok {
		t.Fatalf("pftest: %q is no ECDSA key type", keyType)
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatalf("pftest: generate key: %v", err)
	}
	return key
}

// Forge makes the certificate of tpl for the public key pub, issued by
// parent and signed by signer; a nil parent makes it self-issued (tpl is
// its own parent). Where tpl leaves them zero, the serial number is 1 and
// the validity runs from an hour ago to an hour ahead.
func Forge(t testing.TB, tpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	if tpl.SerialNumber == nil {
		tpl.SerialNumber = big.NewInt(1)
	}
	if tpl.NotBefore.IsZero() {
		tpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tpl.NotAfter.IsZero() {
		tpl.NotAfter = time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent = tpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("pftest: forge certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pftest: forged certificate: %v", err)
	}
	return c
}

// ForgeSelf makes the self-signed certificate of tpl on a fresh P-256
// key (Forge's defaults apply) and returns it as a tls.Certificate.
func ForgeSelf(t testing.TB, tpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := ECKey(t, KeyECDSA256)
	c := Forge(t, tpl, nil, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

// ForgeChain makes n+1 certificates on fresh keys of keyType (as ECKey)
// from the templates tpl(0) … tpl(n): certs[n] is self-signed and each
// certs[i] (i < n) is issued by certs[i+1] with its key, keys[i+1]; where
// tpl(i) has none, the serial number is i+1. The templates may give every
// CA one subject and key identifier, so that only the signatures tell the
// issuers apart.
func ForgeChain(t testing.TB, n int, keyType string, tpl func(i int) *x509.Certificate) (certs []*x509.Certificate, keys []*ecdsa.PrivateKey) {
	t.Helper()
	keys = make([]*ecdsa.PrivateKey, n+1)
	for i := range keys {
		keys[i] = ECKey(t, keyType)
	}
	certs = make([]*x509.Certificate, n+1)
	for i := n; i >= 0; i-- {
		c, parent, signer := tpl(i), (*x509.Certificate)(nil), keys[i]
		if i < n {
			parent, signer = certs[i+1], keys[i+1]
		}
		if c.SerialNumber == nil {
			c.SerialNumber = big.NewInt(int64(i + 1))
		}
		certs[i] = Forge(t, c, parent, &keys[i].PublicKey, signer)
	}
	return certs, keys
}
