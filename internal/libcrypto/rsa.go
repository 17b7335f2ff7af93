package libcrypto

// The build-independent half of RSAKey: option checking, the Go fallback
// for anything libcrypto is not asked to do, and the check of the first
// signature with each padding.
// The C half (cKey, newCKey, Available, Describe) is in rsa_cgo.go or,
// without cgo and the libcrypto tag, in rsa_nocgo.go.

import (
	"crypto"
	_ "crypto/md5" // digests libcrypto signs (MD5+SHA-1 for TLS 1.0 and 1.1)
	"crypto/rsa"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
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
	// checked[padding] is set once a signature with that padding
	// (0: PKCS #1 v1.5, 1: PSS) has been verified in Go (see Sign).
	checked [2]atomic.Bool
}

var (
	_ crypto.Signer    = (*RSAKey)(nil)
	_ crypto.Decrypter = (*RSAKey)(nil)
)

// NewRSA loads k into libcrypto (and OpenSSL's configuration, once per
// process). It does not sign: the first signature with each padding is
// verified in Go before Sign returns it (see Sign), which catches a
// broken build or library without the two test signatures at every
// process start that this package used to make (an RSA-2048 signature
// costs as much CPU as a fifth of a whole session).
// k must not be modified afterwards.
func NewRSA(k *rsa.PrivateKey) (*RSAKey, error) {
	c, err := newCKey(k)
	if err != nil {
		return nil, err
	}
	return &RSAKey{priv: k, c: c}, nil
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
// SHA-3, ...) are signed by Go. The first libcrypto signature with each
// padding is verified with Go's public key before it is returned; if it
// does not verify, Sign returns an error instead (and checks again the
// next time).
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
	sig, err := k.c.sign(p, digest)
	if err != nil {
		return nil, err
	}
	pad := 0
	if p.pss {
		pad = 1
	}
	if !k.checked[pad].Load() {
		if err := verify(&k.priv.PublicKey, digest, sig, opts); err != nil {
			return nil, fmt.Errorf("libcrypto: first %v signature (PSS=%v) does not verify: %w", p.hash, p.pss, err)
		}
		k.checked[pad].Store(true)
	}
	return sig, nil
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
