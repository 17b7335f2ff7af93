package libcrypto

// The build-independent half of ECDSAKey: the curve check, the Go path for
// deterministic signatures, and the start-up self-test. The C half
// (newCKeyEC, cKey.signECDSA) is in ecdsa_cgo.go or, without cgo and the
// libcrypto tag, in ecdsa_nocgo.go.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// ECDSAKey is an ECDSA private key on P-256, P-384 or P-521 whose
// signatures are made by libcrypto. It implements crypto.Signer and is safe
// for concurrent use.
type ECDSAKey struct {
	priv *ecdsa.PrivateKey
	c    *cKey
}

var _ crypto.Signer = (*ECDSAKey)(nil)

// ecdsaCurves are the curves NewECDSA accepts, by their parameters (as
// crypto/ecdsa itself recognises them).
var ecdsaCurves = []*elliptic.CurveParams{
	elliptic.P256().Params(), elliptic.P384().Params(), elliptic.P521().Params(),
}

// NewECDSA loads k into libcrypto and checks, by signing digests of the
// lengths TLS uses and verifying them in Go, that libcrypto signs
// correctly with it. k must be on P-256, P-384 or P-521 and must not be
// modified afterwards.
func NewECDSA(k *ecdsa.PrivateKey) (*ECDSAKey, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	if err := checkCurve(k); err != nil {
		return nil, err
	}
	c, err := newCKeyEC(k)
	if err != nil {
		return nil, err
	}
	key := &ECDSAKey{priv: k, c: c}
	if err := key.selfTest(); err != nil {
		return nil, err
	}
	return key, nil
}

func checkCurve(k *ecdsa.PrivateKey) error {
	if k == nil || k.Curve == nil {
		return errors.New("libcrypto: ECDSA key without a curve")
	}
	p := k.Curve.Params()
	for _, c := range ecdsaCurves {
		if p == c {
			return nil
		}
	}
	return fmt.Errorf("libcrypto: unsupported ECDSA curve %s", p.Name)
}

// Public returns the *ecdsa.PublicKey.
func (k *ECDSAKey) Public() crypto.PublicKey { return &k.priv.PublicKey }

// Sign signs digest like ecdsa.PrivateKey.Sign and returns an ASN.1 DER
// ECDSA-Sig-Value. As in Go, the digest is signed as given, whatever its
// length and whatever opts says; a digest longer than the group order is
// truncated to the order's bit length, keeping its leftmost bits. libcrypto
// draws the nonce from its own generator, so rand is not read; but with rand
// == nil, Go's key signs, because crypto/ecdsa then makes a deterministic
// (RFC 6979) signature, which OpenSSL 3.0 cannot.
func (k *ECDSAKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if rand == nil {
		return k.priv.Sign(nil, digest, opts)
	}
	return k.c.signECDSA(digest)
}

// ecdsaSelfTests are the digests of every length TLS uses (SHA-1 for TLS
// 1.0 and 1.1, SHA-2 for 1.2 and 1.3), shorter and longer than the group
// order.
var ecdsaSelfTests = []crypto.SignerOpts{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512}

// selfTest signs each of ecdsaSelfTests and verifies the signatures with Go.
func (k *ECDSAKey) selfTest() error {
	h, err := signAndVerify(k, rand.Reader, ecdsaSelfTests, func(d, sig []byte, _ crypto.SignerOpts) error {
		if !ecdsa.VerifyASN1(&k.priv.PublicKey, d, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("libcrypto: ECDSA self-test %v: %w", h, err)
	}
	return nil
}
