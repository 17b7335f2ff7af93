package tlspolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"

	"tlsproxy/internal/libcrypto"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

// TestLibcryptoKey checks that loaded RSA keys, and P-521 ECDSA keys, sign
// in libcrypto when the package is built with -tags libcrypto, and stay Go
// keys otherwise; P-256 and P-384 keys (see libcryptoCurves) and Ed25519
// keys are never wrapped.
func TestLibcryptoKey(t *testing.T) {
	f := newFixture(t)
	rsaType := fmt.Sprintf("%T", &rsa.PrivateKey{})
	goECType := fmt.Sprintf("%T", &ecdsa.PrivateKey{})
	ecType := goECType
	if libcrypto.Available() {
		rsaType = fmt.Sprintf("%T", &libcrypto.RSAKey{})
		ecType = fmt.Sprintf("%T", &libcrypto.ECDSAKey{})
	}
	ec384Cert, ec384Key := f.ca.Issue(t, "mx-ec384.example.test", []string{"mx.example.test"}, pftest.KeyECDSA384)
	ec521Cert, ec521Key := f.ca.Issue(t, "mx-ec521.example.test", []string{"mx.example.test"}, pftest.KeyECDSA521)
	pftest.WriteFiles(t, f.dir, map[string][]byte{"ec384.pem": cat(ec384Key, ec384Cert), "ec521.pem": cat(ec521Key, ec521Cert)})
	ec384 := filepath.Join(f.dir, "ec384.pem")
	ec521 := filepath.Join(f.dir, "ec521.pem")
	legacy := func(slot, cert, key string) func(t *testing.T) []tls.Certificate {
		return func(t *testing.T) []tls.Certificate {
			c, ok := loadLegacy(slot, cert, key, logs.Lines(func(w string) { t.Errorf("warning: %s", w) }))
			if !ok {
				t.Fatal("loadLegacy failed")
			}
			return []tls.Certificate{c}
		}
	}
	chain := func(files string) func(t *testing.T) []tls.Certificate {
		return func(t *testing.T) []tls.Certificate {
			c, ok := loadChainFiles(files, logs.Lines(func(w string) { t.Errorf("warning: %s", w) }))
			if !ok {
				t.Fatal("loadChainFiles failed")
			}
			return c
		}
	}
	tests := []struct {
		name string
		load func(t *testing.T) []tls.Certificate
		want string // %T of the PrivateKey
	}{
		{"legacy RSA", legacy("RSA", f.rsa, f.rsa), rsaType},
		{"legacy ECDSA P-256", legacy("ECDSA", f.ecCert, f.ecKey), goECType},
		{"legacy ECDSA P-384", legacy("ECDSA", ec384, ec384), goECType},
		{"legacy ECDSA P-521", legacy("ECDSA", ec521, ec521), ecType},
		{"chain RSA", chain(f.rsaChain), rsaType},
		{"chain ECDSA P-256", chain(f.ecKey + "," + f.ecCert), goECType},
		{"chain ECDSA P-384", chain(ec384), goECType},
		{"chain ECDSA P-521", chain(ec521), ecType},
		{"chain Ed25519", chain(f.edChain), fmt.Sprintf("%T", ed25519.PrivateKey{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.load(t) {
				if got := fmt.Sprintf("%T", c.PrivateKey); got != tt.want {
					t.Errorf("private key is %s, want %s", got, tt.want)
				}
				if !keyMatches(c.PrivateKey.(crypto.Signer), c.Leaf) {
					t.Error("private key does not match the certificate")
				}
			}
		})
	}
}
