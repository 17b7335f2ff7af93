package libcrypto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// ecdsaFiles are the test keys (PKCS#8, made with openssl genpkey).
var ecdsaFiles = []string{"ecdsa-p256.pem", "ecdsa-p384.pem", "ecdsa-p521.pem"}

func loadECDSAKey(t testing.TB, name string) *ecdsa.PrivateKey {
	t.Helper()
	return loadPKCS8[*ecdsa.PrivateKey](t, name)
}

// newECDSAKey wraps the key in testdata/name, or skips when libcrypto is
// not built in (TestECDSAAvailability covers that build).
func newECDSAKey(t testing.TB, name string) (*ECDSAKey, *ecdsa.PrivateKey) {
	t.Helper()
	return newTestKey(t, name, "NewECDSA", NewECDSA)
}

func TestECDSAAvailability(t *testing.T) {
	for _, file := range ecdsaFiles {
		k, err := NewECDSA(loadECDSAKey(t, file))
		if Available() && (err != nil || k == nil) {
			t.Errorf("%s: NewECDSA = %v, %v", file, k, err)
		}
		if !Available() && (!errors.Is(err, ErrUnavailable) || k != nil) {
			t.Errorf("%s: NewECDSA = %v, %v; want ErrUnavailable", file, k, err)
		}
	}
}

func TestNewECDSAErrors(t *testing.T) {
	good := loadECDSAKey(t, "ecdsa-p256.pem")
	other := loadECDSAKey(t, "ecdsa-p384.pem")
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	withD := func(d *big.Int) *ecdsa.PrivateKey {
		k := *good
		k.D = d
		return &k
	}
	n := good.Curve.Params().N
	tests := []struct {
		name string
		key  *ecdsa.PrivateKey
		want string
	}{
		{"nil key", nil, "without a curve"},
		{"nil curve", &ecdsa.PrivateKey{D: big.NewInt(1)}, "without a curve"},
		{"P-224", p224, "unsupported ECDSA curve P-224"},
		{"D zero", withD(big.NewInt(0)), "encoding ECDSA key"},
		{"D = N", withD(n), "encoding ECDSA key"},
		{"D > N", withD(new(big.Int).Lsh(n, 8)), "encoding ECDSA key"},
		// Valid on its own but not the public key's: libcrypto loads it
		// without complaint, and only the self-test can tell.
		{"D of another key", withD(new(big.Int).Mod(other.D, n)), "ECDSA self-test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewECDSA(tt.key)
			if !Available() {
				tt.want = ErrUnavailable.Error()
			}
			if err == nil || k != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewECDSA = %v, %v; want error containing %q", k, err, tt.want)
			}
		})
	}
}

func TestSignECDSA(t *testing.T) {
	tests := []struct {
		name string
		len  int
		opts crypto.SignerOpts
	}{
		{"sha1", 20, crypto.SHA1},
		{"sha224", 28, crypto.SHA224},
		{"sha256", 32, crypto.SHA256},
		{"sha384", 48, crypto.SHA384},
		{"sha512", 64, crypto.SHA512},
		{"empty", 0, crypto.SHA256},
		{"1 byte", 1, crypto.SHA256},
		{"20 bytes, opts say sha512", 20, crypto.SHA512},
		{"64 bytes, opts say sha256", 64, crypto.SHA256},
		{"65 bytes, nil opts", 65, nil},
		{"66 bytes", 66, nil},
		{"67 bytes", 67, nil},
		{"128 bytes", 128, nil},
	}
	for _, file := range ecdsaFiles {
		k, priv := newECDSAKey(t, file)
		if k.Public().(*ecdsa.PublicKey) != &priv.PublicKey {
			t.Fatal("Public does not return the key's public key")
		}
		pub, bits := &priv.PublicKey, priv.Curve.Params().N.BitLen()
		for _, tt := range tests {
			t.Run(file+"/"+tt.name, func(t *testing.T) {
				d := bytes.Repeat(digest(crypto.SHA512, []byte(tt.name)), 2)[:tt.len]
				sig, err := k.Sign(rand.Reader, d, tt.opts)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if !ecdsa.VerifyASN1(pub, d, sig) {
					t.Fatal("VerifyASN1 failed")
				}
				// Both libraries use the leftmost bits of a long digest: a
				// change to its last bit is invisible, one to its first is not.
				if tt.len*8 > bits && !ecdsa.VerifyASN1(pub, flip(d, len(d)-1, 0), sig) {
					t.Error("signature depends on bits beyond the group order")
				}
				if tt.len > 0 && ecdsa.VerifyASN1(pub, flip(d, 0, 7), sig) {
					t.Error("signature does not depend on the first bit")
				}
			})
		}
	}
}

// flip returns a copy of d with bit b of byte i inverted.
func flip(d []byte, i, b int) []byte {
	d = bytes.Clone(d)
	d[i] ^= 1 << b
	return d
}

// TestSignECDSANilRand checks that rand == nil gives crypto/ecdsa's
// deterministic signatures, length check included.
func TestSignECDSANilRand(t *testing.T) {
	k, priv := newECDSAKey(t, "ecdsa-p256.pem")
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"sha256", digest(crypto.SHA256, []byte("x")), crypto.SHA256},
		{"sha384", digest(crypto.SHA384, []byte("x")), crypto.SHA384},
		{"wrong length", make([]byte, 20), crypto.SHA256},
		{"nil opts", make([]byte, 32), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotErr := k.Sign(nil, tt.digest, tt.opts)
			want, wantErr := priv.Sign(nil, tt.digest, tt.opts)
			if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("Sign(nil) = %x, %v; Go gives %x, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

func TestSignECDSAErrors(t *testing.T) {
	tests := []struct {
		name string
		key  *ECDSAKey
	}{
		{"zero ECDSAKey", &ECDSAKey{}},
		{"not loaded", &ECDSAKey{priv: loadECDSAKey(t, "ecdsa-p256.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if sig, err := tt.key.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil {
				t.Errorf("Sign = %x, nil; want an error", sig)
			}
		})
	}
}

func TestHandshakeECDSA(t *testing.T) {
	tests := []struct {
		name           string
		version, suite uint16
	}{
		{"TLS 1.0 ECDHE-ECDSA", tls.VersionTLS10, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{"TLS 1.2 ECDHE-ECDSA AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS 1.2 ECDHE-ECDSA AES256-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"TLS 1.3", tls.VersionTLS13, 0},
	}
	for _, file := range ecdsaFiles {
		k, _ := newECDSAKey(t, file)
		for _, tt := range tests {
			t.Run(file+"/"+tt.name, func(t *testing.T) {
				c := &counter{Signer: k}
				checkHandshake(t, c, tt.version, tt.suite)
				// One signature is the certificate's own (serverCert).
				if got := c.signs.Load() - 1; got != 1 || c.nilRand.Load() != 0 {
					t.Errorf("handshake made %d signatures (%d without rand, by Go), want 1 by libcrypto",
						got, c.nilRand.Load())
				}
			})
		}
	}
}

func TestConcurrentSignECDSA(t *testing.T) {
	k256, p256 := newECDSAKey(t, "ecdsa-p256.pem")
	k384, p384 := newECDSAKey(t, "ecdsa-p384.pem")
	signConcurrently(t, func(g, i int) error {
		k, pub := k256, &p256.PublicKey
		if (g+i)%2 == 1 {
			k, pub = k384, &p384.PublicKey
		}
		d := digest(crypto.SHA384, []byte{byte(g), byte(i)})
		sig, err := k.Sign(rand.Reader, d, crypto.SHA384)
		if err == nil && !ecdsa.VerifyASN1(pub, d, sig) {
			err = fmt.Errorf("goroutine %d, signature %d does not verify", g, i)
		}
		return err
	})
}

// benchSignECDSA compares one TLS 1.3 style ECDSA signature by Go and by
// libcrypto. (With OpenSSL 3.0, libcrypto wins on P-256 and P-521 and loses
// about threefold on P-384.)
func benchSignECDSA(b *testing.B, file string, h crypto.Hash) {
	benchGoAndLibcrypto(b, file, newECDSAKey, benchSign(digest(h, []byte("benchmark")), h))
}

func BenchmarkSignECDSAP256(b *testing.B) { benchSignECDSA(b, "ecdsa-p256.pem", crypto.SHA256) }
func BenchmarkSignECDSAP384(b *testing.B) { benchSignECDSA(b, "ecdsa-p384.pem", crypto.SHA384) }
func BenchmarkSignECDSAP521(b *testing.B) { benchSignECDSA(b, "ecdsa-p521.pem", crypto.SHA512) }

// BenchmarkHandshakeECDSAP256 runs whole TLS 1.3 handshakes in-process
// (client included) with the Go key and with libcrypto.
func BenchmarkHandshakeECDSAP256(b *testing.B) {
	benchGoAndLibcrypto(b, "ecdsa-p256.pem", newECDSAKey, benchHandshake)
}
