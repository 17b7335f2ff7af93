package libcrypto

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "crypto/sha3" // for the Go fallback case
)

// loadKey reads testdata/name (a PKCS#8 RSA key made with openssl genpkey).
func loadKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	return loadPKCS8[*rsa.PrivateKey](t, name)
}

// loadPKCS8 reads the PKCS#8 private key in testdata/name, a P.
func loadPKCS8[P any](t testing.TB, name string) P {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(P)
}

// newKey wraps the key in testdata/name, or skips when libcrypto is not
// built in (TestAvailability covers that build).
func newKey(t testing.TB, name string) (*RSAKey, *rsa.PrivateKey) {
	t.Helper()
	return newTestKey(t, name, "NewRSA", NewRSA)
}

// newTestKey loads the P in testdata/name and returns it wrapped by wrap
// (NewRSA or NewECDSA, named fn), or skips when libcrypto is not built in.
func newTestKey[P, K any](t testing.TB, name, fn string, wrap func(P) (K, error)) (K, P) {
	t.Helper()
	if !Available() {
		t.Skip("built without -tags libcrypto")
	}
	priv := loadPKCS8[P](t, name)
	k, err := wrap(priv)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	return k, priv
}

func TestAvailability(t *testing.T) {
	k, err := NewRSA(loadKey(t, "rsa2048.pem"))
	if Available() {
		if err != nil || k == nil {
			t.Fatalf("NewRSA = %v, %v", k, err)
		}
		if !strings.HasPrefix(Describe(), "OpenSSL 3.") {
			t.Errorf("Describe() = %q, want OpenSSL 3.x", Describe())
		}
		return
	}
	if !errors.Is(err, ErrUnavailable) || k != nil {
		t.Errorf("NewRSA = %v, %v; want ErrUnavailable", k, err)
	}
	if !strings.Contains(Describe(), "pure Go") {
		t.Errorf("Describe() = %q", Describe())
	}
}

func TestSign(t *testing.T) {
	pss := func(h crypto.Hash, salt int) *rsa.PSSOptions { return &rsa.PSSOptions{Hash: h, SaltLength: salt} }
	tests := []struct {
		name string
		opts crypto.SignerOpts
		salt func(bits int) int // PSS: the exact salt length expected
	}{
		{name: "pkcs1 md5sha1", opts: crypto.MD5SHA1},
		{name: "pkcs1 sha1", opts: crypto.SHA1},
		{name: "pkcs1 sha224", opts: crypto.SHA224},
		{name: "pkcs1 sha256", opts: crypto.SHA256},
		{name: "pkcs1 sha384", opts: crypto.SHA384},
		{name: "pkcs1 sha512", opts: crypto.SHA512},
		{name: "pkcs1 sha3-256 (Go)", opts: crypto.SHA3_256},
		{name: "pss sha256 equals-hash", opts: pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), salt: func(int) int { return 32 }},
		{name: "pss sha384 equals-hash", opts: pss(crypto.SHA384, rsa.PSSSaltLengthEqualsHash), salt: func(int) int { return 48 }},
		{name: "pss sha512 equals-hash", opts: pss(crypto.SHA512, rsa.PSSSaltLengthEqualsHash), salt: func(int) int { return 64 }},
		{name: "pss sha1 equals-hash", opts: pss(crypto.SHA1, rsa.PSSSaltLengthEqualsHash), salt: func(int) int { return 20 }},
		{name: "pss sha256 auto", opts: pss(crypto.SHA256, rsa.PSSSaltLengthAuto), salt: func(bits int) int { return (bits-1+7)/8 - 32 - 2 }},
		{name: "pss sha512 auto", opts: pss(crypto.SHA512, rsa.PSSSaltLengthAuto), salt: func(bits int) int { return (bits-1+7)/8 - 64 - 2 }},
		{name: "pss sha256 salt 20", opts: pss(crypto.SHA256, 20), salt: func(int) int { return 20 }},
		{name: "pss sha384 salt 1", opts: pss(crypto.SHA384, 1), salt: func(int) int { return 1 }},
	}
	for _, file := range []string{"rsa2048.pem", "rsa3072.pem"} {
		k, priv := newKey(t, file)
		if k.Public().(*rsa.PublicKey) != &priv.PublicKey {
			t.Fatal("Public does not return the key's public key")
		}
		msg := []byte("message for " + file)
		for _, tt := range tests {
			t.Run(file+"/"+tt.name, func(t *testing.T) {
				d := digest(tt.opts.HashFunc(), msg)
				sig, err := k.Sign(rand.Reader, d, tt.opts)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if len(sig) != priv.Size() {
					t.Errorf("signature is %d bytes, want %d", len(sig), priv.Size())
				}
				if p, ok := tt.opts.(*rsa.PSSOptions); ok {
					exact := &rsa.PSSOptions{Hash: p.Hash, SaltLength: tt.salt(priv.N.BitLen())}
					if err := rsa.VerifyPSS(&priv.PublicKey, p.Hash, d, sig, exact); err != nil {
						t.Errorf("VerifyPSS (salt %d): %v", exact.SaltLength, err)
					}
					return
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, tt.opts.HashFunc(), d, sig); err != nil {
					t.Errorf("VerifyPKCS1v15: %v", err)
				}
				// PKCS#1 v1.5 is deterministic: Go must produce the same bytes.
				want, err := priv.Sign(rand.Reader, d, tt.opts)
				if err != nil || string(want) != string(sig) {
					t.Errorf("signature differs from Go's (err %v)", err)
				}
			})
		}
	}
}

func TestSignErrors(t *testing.T) {
	k, _ := newKey(t, "rsa2048.pem")
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		want   string
	}{
		{"short sha256", make([]byte, 31), crypto.SHA256, "31-byte digest"},
		{"long sha256", make([]byte, 33), crypto.SHA256, "33-byte digest"},
		{"empty sha1", nil, crypto.SHA1, "0-byte digest"},
		{"md5sha1 of 32 bytes", make([]byte, 32), crypto.MD5SHA1, "32-byte digest"},
		{"pss wrong length", make([]byte, 48), &rsa.PSSOptions{Hash: crypto.SHA256}, "48-byte digest"},
		{"pss bad salt length", make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: -7}, "invalid PSS salt length"},
		{"pss salt too long", make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 1000}, "EVP_PKEY_sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := k.Sign(rand.Reader, tt.digest, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign = %x, %v; want error containing %q", sig, err, tt.want)
			}
		})
	}
}

// counter counts the signatures crypto/tls asks for, and those asked for
// without a random source (which ECDSAKey leaves to Go).
type counter struct {
	crypto.Signer
	signs, nilRand atomic.Int32
}

func (c *counter) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.signs.Add(1)
	if r == nil {
		c.nilRand.Add(1)
	}
	return c.Signer.Sign(r, d, o)
}

// rsaCounter counts decryptions too. (crypto/tls refuses a
// crypto.Decrypter whose public key is not RSA, so counter has no Decrypt.)
type rsaCounter struct {
	counter
	decrypts atomic.Int32
}

func (c *rsaCounter) Decrypt(r io.Reader, m []byte, o crypto.DecrypterOpts) ([]byte, error) {
	c.decrypts.Add(1)
	return c.Signer.(crypto.Decrypter).Decrypt(r, m, o)
}

// serverCert returns a self-signed certificate for mx.example.test, itself
// signed by signer.
func serverCert(t testing.TB, signer crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.example.test"},
		DNSNames:     []string{"mx.example.test"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: leaf}
}

// handshake runs one client/server handshake over net.Pipe.
func handshake(cert tls.Certificate, version, suite uint16) (tls.ConnectionState, error) {
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	var suites []uint16
	if suite != 0 {
		suites = []uint16{suite}
	}
	sc, cc := net.Pipe()
	deadline := time.Now().Add(time.Minute) // a failure, not a hang
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert},
		MinVersion: version, MaxVersion: version, CipherSuites: suites})
	cli := tls.Client(cc, &tls.Config{RootCAs: roots, ServerName: "mx.example.test",
		MinVersion: version, MaxVersion: version, CipherSuites: suites})
	defer sc.Close() // not the tls.Conns: their close_notify would block on the pipe
	defer cc.Close()
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	err := cli.Handshake()
	if serr := <-errc; err == nil {
		err = serr
	}
	return cli.ConnectionState(), err
}

// checkHandshake runs handshake with a certificate signed by s and checks
// the version and suite negotiated.
func checkHandshake(t *testing.T, s crypto.Signer, version, suite uint16) {
	t.Helper()
	st, err := handshake(serverCert(t, s), version, suite)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if st.Version != version || (suite != 0 && st.CipherSuite != suite) {
		t.Errorf("negotiated %x/%x, want %x/%x", st.Version, st.CipherSuite, version, suite)
	}
}

func TestHandshake(t *testing.T) {
	k, _ := newKey(t, "rsa2048.pem")
	tests := []struct {
		name            string
		version, suite  uint16
		signs, decrypts int32
	}{
		{"TLS 1.0 ECDHE-RSA", tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, 1, 0},
		{"TLS 1.1 ECDHE-RSA", tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, 1, 0},
		{"TLS 1.2 ECDHE-RSA", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 1, 0},
		{"TLS 1.2 RSA key exchange", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, 0, 1},
		{"TLS 1.3", tls.VersionTLS13, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &rsaCounter{counter: counter{Signer: k}}
			checkHandshake(t, c, tt.version, tt.suite)
			// One signature is the certificate's own (serverCert).
			if got := c.signs.Load() - 1; got != tt.signs || c.decrypts.Load() != tt.decrypts {
				t.Errorf("handshake made %d signatures and %d decryptions, want %d and %d",
					got, c.decrypts.Load(), tt.signs, tt.decrypts)
			}
		})
	}
}

func TestConcurrentSign(t *testing.T) {
	k, priv := newKey(t, "rsa2048.pem")
	signConcurrently(t, func(g, i int) error {
		var opts crypto.SignerOpts = crypto.SHA256
		if (g+i)%2 == 1 {
			opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
		}
		d := digest(crypto.SHA256, []byte{byte(g), byte(i)})
		sig, err := k.Sign(rand.Reader, d, opts)
		if err == nil {
			err = verify(&priv.PublicKey, d, sig, opts)
		}
		return err
	})
}

// signConcurrently runs sign(g, i), signature i of goroutine g, in 16
// goroutines of 8 signatures each at once, and reports every error.
func signConcurrently(t *testing.T, sign func(g, i int) error) {
	t.Helper()
	const goroutines, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := sign(g, i); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNoCLeak repeats signing, and key loading, a bounded number of times
// on one thread and checks that the C heap does not grow with it: each
// signature's EVP_PKEY_CTX must be freed, and so must a dropped key's
// EVP_PKEY (by its cleanup, after a GC). A leaked context costs ~600 bytes,
// a leaked 2048-bit key ~6 KB, a leaked P-256 key ~2 KB.
func TestNoCLeak(t *testing.T) {
	k, priv := newKey(t, "rsa2048.pem")
	ek, epriv := newECDSAKey(t, "ecdsa-p256.pem")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tests := []struct {
		name string
		n    int
		op   func(i int) error
	}{
		{"sign", 1000, func(i int) error {
			var o crypto.SignerOpts = crypto.SHA256
			if i%2 == 1 {
				o = &rsa.PSSOptions{Hash: crypto.SHA384}
			}
			_, err := k.Sign(rand.Reader, digest(o.HashFunc(), nil), o)
			return err
		}},
		{"load and drop keys", 50, func(int) error {
			_, err := NewRSA(priv)
			runtime.GC() // queues the cleanups of the keys dropped so far
			return err
		}},
		{"ecdsa sign", 1000, func(i int) error {
			_, err := ek.Sign(rand.Reader, make([]byte, 20+i%50), nil)
			return err
		}},
		{"ecdsa load and drop keys", 100, func(int) error {
			_, err := NewECDSA(epriv)
			runtime.GC()
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int
			for i := range tt.n + 20 {
				if i == 20 { // after a warm-up: caches, per-thread state
					before = cHeapInUse()
				}
				if err := tt.op(i); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			if grown := cHeapInUse() - before; grown > 64<<10 {
				t.Errorf("C heap grew by %d bytes over %d rounds", grown, tt.n)
			}
		})
	}
}

// BenchmarkSignRSA2048 compares one TLS 1.3 style signature (RSA-PSS,
// SHA-256) by Go and by libcrypto.
func BenchmarkSignRSA2048(b *testing.B) {
	opts := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	benchGoAndLibcrypto(b, "rsa2048.pem", newKey, benchSign(digest(crypto.SHA256, []byte("benchmark")), opts))
}

// BenchmarkHandshakeRSA2048 runs whole TLS 1.3 handshakes in-process (so
// the client's work is counted too) with the Go key and with libcrypto.
func BenchmarkHandshakeRSA2048(b *testing.B) {
	benchGoAndLibcrypto(b, "rsa2048.pem", newKey, benchHandshake)
}

// benchGoAndLibcrypto runs op as sub-benchmark "go" with the Go key in
// testdata/file and as "libcrypto" with that key wrapped by newK.
func benchGoAndLibcrypto[K, P crypto.Signer](b *testing.B, file string,
	newK func(testing.TB, string) (K, P), op func(*testing.B, crypto.Signer)) {
	b.Run("go", func(b *testing.B) { op(b, loadPKCS8[P](b, file)) })
	b.Run("libcrypto", func(b *testing.B) {
		k, _ := newK(b, file)
		op(b, k)
	})
}

// benchSign signs d with opts over and over.
func benchSign(d []byte, opts crypto.SignerOpts) func(*testing.B, crypto.Signer) {
	return func(b *testing.B, s crypto.Signer) {
		for b.Loop() {
			if _, err := s.Sign(rand.Reader, d, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchHandshake runs TLS 1.3 handshakes with a certificate signed by s.
func benchHandshake(b *testing.B, s crypto.Signer) {
	cert := serverCert(b, s)
	for b.Loop() {
		if _, err := handshake(cert, tls.VersionTLS13, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFirstSignatureChecked: Sign verifies the first libcrypto signature
// of each padding in Go and refuses one that does not verify (here: the
// C key is another key than the Go half, as a broken library would sign),
// again on the next call; once one verified, that padding is trusted.
func TestFirstSignatureChecked(t *testing.T) {
	good, _ := newKey(t, "rsa2048.pem")
	other, _ := newKey(t, "rsa3072.pem")
	pss := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	d := digest(crypto.SHA256, []byte("first signature"))
	tests := []struct {
		name    string
		key     *RSAKey
		opts    crypto.SignerOpts
		pad     int
		wantErr bool
	}{
		{"pkcs1, matching", &RSAKey{priv: good.priv, c: good.c}, crypto.SHA256, 0, false},
		{"pss, matching", &RSAKey{priv: good.priv, c: good.c}, pss, 1, false},
		{"pkcs1, libcrypto signs with another key", &RSAKey{priv: good.priv, c: other.c}, crypto.SHA256, 0, true},
		{"pss, libcrypto signs with another key", &RSAKey{priv: good.priv, c: other.c}, pss, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for call := range 2 {
				sig, err := tc.key.Sign(nil, d, tc.opts)
				if gotErr := err != nil; gotErr != tc.wantErr {
					t.Fatalf("call %d: Sign = %x, %v; want error %v", call, sig, err, tc.wantErr)
				}
				if got := tc.key.checked[tc.pad].Load(); got == tc.wantErr {
					t.Fatalf("call %d: checked[%d] = %v", call, tc.pad, got)
				}
				if got := tc.key.checked[1-tc.pad].Load(); got {
					t.Fatalf("call %d: the other padding is marked checked", call)
				}
			}
		})
	}
}
