package pftest

// Test certificate factory: CAs, leaf and self-signed certificates with
// RSA, ECDSA or Ed25519 keys, as PEM, for TLS tests on loopback.
//
// Certificates use a fixed validity range (2000-01-01 .. 2099-12-31) and a
// serial number derived from the names involved. Keys are cached per
// process by (key type, CN), so the same CN always gets the same key within
// one test binary; this keeps RSA key generation (slow under -race) to one
// key per name. Ed25519 keys are derived from the CN and are therefore the
// same across runs, so an Ed25519 CA issuing Ed25519 certificates yields
// byte-identical certificates every time (Ed25519 signatures are
// deterministic); RSA and ECDSA certificates differ between processes.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Key types understood by NewCAKey, Issue and SelfSigned.
const (
	KeyRSA2048  = "rsa2048"
	KeyECDSA256 = "ecdsa256"
	KeyECDSA384 = "ecdsa384"
	KeyECDSA521 = "ecdsa521"
	KeyEd25519  = "ed25519"
)

var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)
)

// CA is a test certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
	KeyPEM  []byte
}

// NewCA returns a self-signed Ed25519 CA named cn (deterministic).
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	return NewCAKey(t, cn, KeyEd25519)
}

// NewCAKey returns a self-signed CA named cn with a key of keyType.
func NewCAKey(t testing.TB, cn, keyType string) *CA {
	t.Helper()
	return newCA(t, cn, testKey(t, keyType, cn), nil)
}

// newCA makes a CA named cn with key, signed by parent (nil: self-signed).
func newCA(t testing.TB, cn string, key crypto.Signer, parent *CA) *CA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          serialFor("ca", cn),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		tmpl.SerialNumber = serialFor(parent.Cert.Subject.CommonName, cn)
		issuer, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		t.Fatalf("pftest: create CA %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pftest: parse CA %q: %v", cn, err)
	}
	return &CA{Cert: cert, CertPEM: certPEM(der), Key: key, KeyPEM: keyPEM(t, key)}
}

// Issue returns a leaf certificate for cn (with the given DNS names) signed
// by the CA, and its private key, both PEM encoded. The certificate allows
// both server and client authentication.
func (ca *CA) Issue(t testing.TB, cn string, dnsNames []string, keyType string) (certPEMBytes, keyPEMBytes []byte) {
	t.Helper()
	key := testKey(t, keyType, cn)
	tmpl := leafTemplate(ca.Cert.Subject.CommonName, cn, dnsNames, key)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("pftest: issue %q: %v", cn, err)
	}
	return certPEM(der), keyPEM(t, key)
}

// SelfSigned returns a self-signed leaf certificate for cn and its key (PEM).
func SelfSigned(t testing.TB, cn, keyType string) (certPEMBytes, keyPEMBytes []byte) {
	t.Helper()
	key := testKey(t, keyType, cn)
	tmpl := leafTemplate(cn, cn, nil, key)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("pftest: self-signed %q: %v", cn, err)
	}
	return certPEM(der), keyPEM(t, key)
}

// WriteFiles writes each name -> content into dir (mode 0600).
func WriteFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("pftest: %v", err)
		}
	}
}

func leafTemplate(issuerCN, cn string, dnsNames []string, key crypto.Signer) *x509.Certificate {
	usage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	return &x509.Certificate{
		SerialNumber: serialFor(issuerCN, cn),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}

// serialFor derives a positive 64-bit serial number from the names.
func serialFor(issuer, subject string) *big.Int {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return new(big.Int).SetBytes(sum[:8])
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

// testKey returns the process-wide key for (keyType, cn), creating it once.
func testKey(t testing.TB, keyType, cn string) crypto.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	id := keyType + "\x00" + cn
	if k, ok := keyCache[id]; ok {
		return k
	}
	var (
		k   crypto.Signer
		err error
	)
	switch keyType {
	case KeyRSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyECDSA256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSA384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyECDSA521:
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case KeyEd25519:
		seed := sha256.Sum256([]byte("pftest ed25519 " + cn))
		k = ed25519.NewKeyFromSeed(seed[:])
	default:
		t.Fatalf("pftest: unknown key type %q", keyType)
	}
	if err != nil {
		t.Fatalf("pftest: generate %s key: %v", keyType, err)
	}
	keyCache[id] = k
	return k
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("pftest: marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CertPool returns a pool of the PEM certificates in pemData (a CA's
// CertPEM, a certificate file), failing t when it holds none.
func CertPool(t testing.TB, pemData []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("pftest: no PEM certificate for the pool")
	}
	return pool
}
