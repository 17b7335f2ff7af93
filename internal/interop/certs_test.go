package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"
)

// certReq describes a certificate for issueCert.
type certReq struct {
	cn    string
	names []string         // DNS names
	ca    bool             // a CA (for signing) rather than a leaf
	usage x509.ExtKeyUsage // a leaf's one extended key usage
	when  [2]time.Time     // NotBefore, NotAfter
}

// issueCert makes a fresh P-256 key and a certificate for r, signed by
// parent with parentKey (parent nil: self-signed). The fixtures are made
// outside any one test, so errors are returned rather than fatal.
func issueCert(r certReq, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: r.cn}, DNSNames: r.names,
		NotBefore: r.when[0], NotAfter: r.when[1],
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{r.usage},
	}
	if r.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature, nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}
