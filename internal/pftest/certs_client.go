package pftest

// More certificate shapes for client-role tests: leaves with chosen names,
// validity and extended key usage, and intermediate CAs.

import (
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

// Leaf describes a leaf certificate for IssueLeaf. Zero NotBefore/NotAfter
// mean the default validity range; nil ExtKeyUsage means server and client
// authentication; KeyType "" means Ed25519.
type Leaf struct {
	CN          string
	DNSNames    []string
	KeyType     string
	NotBefore   time.Time
	NotAfter    time.Time
	ExtKeyUsage []x509.ExtKeyUsage
}

// IssueLeaf returns a leaf certificate signed by the CA, and its private
// key, both PEM encoded. The DER certificate is returned too, for
// fingerprints and TLSA data.
func (ca *CA) IssueLeaf(t testing.TB, l Leaf) (certPEMBytes, keyPEMBytes, der []byte) {
	t.Helper()
	if l.KeyType == "" {
		l.KeyType = KeyEd25519
	}
	key := testKey(t, l.KeyType, l.CN)
	tmpl := leafTemplate(ca.Cert.Subject.CommonName, l.CN, l.DNSNames, key)
	if !l.NotBefore.IsZero() {
		tmpl.NotBefore = l.NotBefore
	}
	if !l.NotAfter.IsZero() {
		tmpl.NotAfter = l.NotAfter
	}
	if l.ExtKeyUsage != nil {
		tmpl.ExtKeyUsage = l.ExtKeyUsage
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("pftest: issue %q: %v", l.CN, err)
	}
	return certPEM(der), keyPEM(t, key), der
}

// Intermediate returns a CA named cn (Ed25519 key) signed by this CA.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	return newCA(t, cn, testKey(t, KeyEd25519, cn), ca)
}
