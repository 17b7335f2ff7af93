package tlspolicy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// TestTrust covers the TRUSTED bit: CAfile, hashed CApath entries only,
// the verification depth and expiry.
func TestTrust(t *testing.T) {
	f := newFixture(t)
	other := pftest.NewCA(t, "Other CA")
	for _, d := range []string{"capath", "hashed"} {
		if err := os.Mkdir(filepath.Join(f.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pftest.WriteFiles(t, f.dir, map[string][]byte{
		"capath/ca.pem": f.ca.CertPEM, "hashed/0a1b2c3d.0": f.ca.CertPEM, "hashed/other.pem": other.CertPEM,
	})
	client, err := x509.ParseCertificate(pemDER(t, readFile(t, f.clientCert)))
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("expired client"))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "expired.example.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, f.ca.Cert, key.Public(), f.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := x509.ParseCertificate(der)
	// A CA younger than an expired leaf it issued: no one time at
	// which the whole chain is valid.
	youngTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(43), Subject: pkix.Name{CommonName: "Young CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	youngDER, err := x509.CreateCertificate(nil, youngTmpl, youngTmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	young, _ := x509.ParseCertificate(youngDER)
	pftest.WriteFiles(t, f.dir, map[string][]byte{"young.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: youngDER})})
	tmpl.SerialNumber = big.NewInt(44)
	der, err = x509.CreateCertificate(nil, tmpl, young, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	expiredYoung, _ := x509.ParseCertificate(der)
	otherLeaf, err := x509.ParseCertificate(pemDER(t, func() []byte { c, _ := other.Issue(t, "o.example.test", nil, pftest.KeyEd25519); return c }()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		caFile, caPath string
		depth          int
		leaf           *x509.Certificate
		want           bool
		why            string // VerifyFailure
	}{
		{"CAfile", f.caFile, "", 9, client, true, ""},
		{"no CA", "", "", 9, client, false, "untrusted issuer /CN=Test CA"},
		{"CApath without hashed names", "", f.dir + "/capath", 9, client, false, "untrusted issuer /CN=Test CA"},
		{"CApath hashed name", "", f.dir + "/hashed", 9, client, true, ""},
		{"wrong CA", f.caFile, f.dir + "/hashed", 9, otherLeaf, false, "untrusted issuer /CN=Other CA"},
		{"depth 1", f.caFile, "", 1, client, true, ""},
		{"depth 0", f.caFile, "", 0, client, false, "certificate chain longer than limit(0)"},
		{"expired", f.caFile, "", 9, expired, false, "certificate has expired"},
		{"expired, CA younger", f.dir + "/young.pem", "", 9, expiredYoung, false, "certificate has expired"},
		{"self-signed", f.caFile, "", 9, other.Cert, false, "self-signed certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.settings()
			s.AskCcert, s.CAfile, s.CApath, s.VerifyDepth = true, tt.caFile, tt.caPath, tt.depth
			srv := mustServer(t, s)
			chain := []*x509.Certificate{tt.leaf}
			v := srv.VerifyPeer(chain, time.Now())
			if v.Trusted != tt.want {
				t.Errorf("trusted = %v, want %v", v.Trusted, tt.want)
			}
			if v.Failure != tt.why {
				t.Errorf("failure = %q, want %q", v.Failure, tt.why)
			}
		})
	}
	for _, tt := range []struct{ why, line string }{
		{"", ""},
		{"untrusted issuer /CN=Other CA", "certificate verification failed for [127.0.0.1]:25: untrusted issuer /CN=Other CA"},
		{"certificate has expired", "client certificate verification failed for [127.0.0.1]:25: certificate has expired"},
	} {
		if got := (Info{VerifyFailure: tt.why}).UntrustedLine("[127.0.0.1]:25"); got != tt.line {
			t.Errorf("UntrustedLine %q, want %q", got, tt.line)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pemDER returns the DER bytes of the first PEM block of data.
func pemDER(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM data")
	}
	return b.Bytes
}
