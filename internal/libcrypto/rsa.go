package libcrypto

// The build-independent half of RSAKey: option checking, the Go fallback
// for anything libcrypto is not asked to do, and the start-up self-test.
// The C half (cKey, newCKey, Available, Describe) is in rsa_cgo.go or,
// without cgo and the libcrypto tag, in rsa_nocgo.go.

import (
	"crypto"
	_ "crypto/md5" // digests for the self-test
	"crypto/rsa"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
)

// ErrUnavailable is returned by NewRSA and NewECDSA when the package was
// built without cgo or without the libcrypto build tag.
var ErrUnavailable = errors.New("libcrypto: not available (built without cgo and -tags libcrypto)")

// RSAKey is an RSA private key whose signatures are made by libcrypto. It
// implements crypto.Signer and crypto.Decrypter and is safe for concurrent
// use.
type RSAKey struct {
	priv *rsa.PrivateKey
	c    *cKey
}

var (
	_ crypto.Signer    = (*RSAKey)(nil)
	_ crypto.Decrypter = (*RSAKey)(nil)
)

// NewRSA loads k into libcrypto and checks, by signing once with each
// padding TLS uses (PKCS #1 v1.5 and PSS, SHA-256) and verifying in Go,
// that libcrypto signs correctly.
// k must not be modified afterwards.
func NewRSA(k *rsa.PrivateKey) (*RSAKey, error) {
	c, err := newCKey(k)
	if err != nil {
		return nil, err
	}
	key := &RSAKey{priv: k, c: c}
	if err := key.selfTest(); err != nil {
		return nil, err
	}
	return key, nil
}

// Public returns the *rsa.PublicKey.
func (k *RSAKey) Public() crypto.PublicKey { return &k.priv.PublicKey }

// Decrypt is done by Go's *rsa.PrivateKey: only the TLS RSA key exchange
// uses it, which is rare and not worth a second C path.
func (k *RSAKey) Decrypt(rand io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return k.priv.Decrypt(rand, ciphertext, opts)
}

// signParams says what libcrypto is asked to do.
type signParams struct {
	pss  bool
	hash crypto.Hash // crypto.MD5SHA1: PKCS#1 v1.5 padding without DigestInfo
	salt int         // PSS only: rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto or a length
}

// libcryptoHashes are the digests handed to libcrypto; others go to Go.
var libcryptoHashes = map[crypto.Hash]bool{
	crypto.SHA1: true, crypto.SHA224: true, crypto.SHA256: true,
	crypto.SHA384: true, crypto.SHA512: true,
}

// Sign signs digest like rsa.PrivateKey.Sign: opts is a crypto.Hash for
// PKCS#1 v1.5 (crypto.MD5SHA1 for TLS 1.0 and 1.1) or *rsa.PSSOptions.
// rand is ignored when libcrypto signs (it uses its own generator for
// blinding and PSS salts). Digests libcrypto is not set up for (hash 0,
// SHA-3, ...) are signed by Go.
func (k *RSAKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	p := signParams{hash: opts.HashFunc()}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		p.pss, p.salt = true, pss.SaltLength
		if p.salt < rsa.PSSSaltLengthEqualsHash {
			return nil, fmt.Errorf("libcrypto: invalid PSS salt length %d", p.salt)
		}
	}
	if !libcryptoHashes[p.hash] && (p.pss || p.hash != crypto.MD5SHA1) {
		return k.priv.Sign(rand, digest, opts)
	}
	if len(digest) != p.hash.Size() {
		return nil, fmt.Errorf("libcrypto: %d-byte digest for %v, want %d", len(digest), p.hash, p.hash.Size())
	}
	return k.c.sign(p, digest)
}

// rsaSelfTests are one signature with each padding: enough to catch a
// broken build at start-up and to have OpenSSL initialise itself before
// the jail, at about 0.75 ms each for RSA-2048 (every tlsproxy process
// pays them). TestSign checks every digest and padding TLS uses.
var rsaSelfTests = []crypto.SignerOpts{
	crypto.SHA256,
	&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
}

// selfTest signs one digest with each of rsaSelfTests and verifies each
// signature with Go.
func (k *RSAKey) selfTest() error {
	opts, err := signAndVerify(k, nil, rsaSelfTests, func(d, sig []byte, opts crypto.SignerOpts) error {
		return verify(&k.priv.PublicKey, d, sig, opts)
	})
	if err != nil {
		return fmt.Errorf("libcrypto: self-test %v (PSS=%v): %w", opts.HashFunc(), isPSS(opts), err)
	}
	return nil
}

// signAndVerify has s sign, with rand, a digest of one message for each of
// tests, and checks each signature with verify. It returns the options of
// the first failure and its error.
func signAndVerify(s crypto.Signer, rand io.Reader, tests []crypto.SignerOpts,
	verify func(digest, sig []byte, opts crypto.SignerOpts) error) (crypto.SignerOpts, error) {
	msg := []byte("tlsproxy libcrypto self-test")
	for _, opts := range tests {
		d := digest(opts.HashFunc(), msg)
		sig, err := s.Sign(rand, d, opts)
		if err == nil {
			err = verify(d, sig, opts)
		}
		if err != nil {
			return opts, err
		}
	}
	return nil, nil
}

func isPSS(opts crypto.SignerOpts) bool {
	_, ok := opts.(*rsa.PSSOptions)
	return ok
}

// digest hashes msg with h; for crypto.MD5SHA1 it returns MD5 || SHA-1.
func digest(h crypto.Hash, msg []byte) []byte {
	if h == crypto.MD5SHA1 {
		return append(digest(crypto.MD5, msg), digest(crypto.SHA1, msg)...)
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// verify checks with Go an RSA signature made with opts (a crypto.Hash for
// PKCS#1 v1.5, or *rsa.PSSOptions whose salt length is also checked).
func verify(pub *rsa.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		return rsa.VerifyPSS(pub, pss.Hash, digest, sig, pss)
	}
	return rsa.VerifyPKCS1v15(pub, opts.HashFunc(), digest, sig)
}
