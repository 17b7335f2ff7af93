//go:build cgo && libcrypto

package libcrypto

// The libcrypto half: one EVP_PKEY per key, and prepared EVP_PKEY_CTXs
// (padding, digest and salt set, sign_init done) kept per key and
// parameter set for the next signature. Making a context costs OpenSSL 3
// a provider fetch and the parameter plumbing each time; a prepared one
// only signs. A context is used by one signature at a time (taken from
// the pool, returned after), and each C call reads OpenSSL's thread-local
// error queue on the thread that filled it.

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <malloc.h>

// tp_heap_in_use returns the bytes allocated by malloc (for a leak test).
static size_t tp_heap_in_use(void) {
	return mallinfo2().uordblks;
}

static const EVP_MD *tp_md(int bits) {
	switch (bits) {
	case 160: return EVP_sha1();
	case 224: return EVP_sha224();
	case 256: return EVP_sha256();
	case 384: return EVP_sha384();
	case 512: return EVP_sha512();
	}
	return NULL;
}

// tp_error returns the last queued error (or 1 if none) and empties the
// queue.
static unsigned long tp_error(void) {
	unsigned long e = ERR_peek_last_error();
	ERR_clear_error();
	return e ? e : 1;
}

// tp_load decodes a private key of the given type: a PKCS#1 RSAPrivateKey
// (EVP_PKEY_RSA) or a SEC 1 ECPrivateKey (EVP_PKEY_EC). On failure it
// returns NULL and sets *err.
static EVP_PKEY *tp_load(int type, const unsigned char *der, long len, unsigned long *err) {
	const unsigned char *p = der;
	EVP_PKEY *k;

	ERR_clear_error();
	k = d2i_PrivateKey(type, NULL, &p, len);
	if (k == NULL)
		*err = tp_error();
	return k;
}

// tp_prepare makes an EVP_PKEY_CTX for signing with key and the given
// parameters (see tp_sign). On failure it returns NULL and sets *err.
static EVP_PKEY_CTX *tp_prepare(EVP_PKEY *key, int pad, int md_bits, int salt, unsigned long *err) {
	const EVP_MD *md = tp_md(md_bits);
	EVP_PKEY_CTX *ctx;
	int ok;

	ERR_clear_error();
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = ctx != NULL
		&& EVP_PKEY_sign_init(ctx) > 0
		&& (pad == 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, pad) > 0)
		&& (md == NULL || EVP_PKEY_CTX_set_signature_md(ctx, md) > 0)
		&& (pad != RSA_PKCS1_PSS_PADDING || (md != NULL
			&& EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0
			&& EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0));
	if (!ok) {
		*err = tp_error();
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

// tp_sign_ctx signs tbs with a context made by tp_prepare. On failure it
// returns 0 and sets *err. (Not static: the signing thread of
// signthread_cgo.go calls it too.)
int tp_sign_ctx(EVP_PKEY_CTX *ctx, const unsigned char *tbs, size_t tbslen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	ERR_clear_error();
	if (EVP_PKEY_sign(ctx, sig, siglen, tbs, tbslen) > 0)
		return 1;
	*err = tp_error();
	return 0;
}

// tp_sign signs tbs with one EVP_PKEY_CTX. For an EC key pad and md_bits
// are 0: tbs is a digest of any length (libcrypto keeps the leftmost bits
// of one longer than the group order) and sig a DER ECDSA-Sig-Value. For
// an RSA key pad is RSA_PKCS1_PADDING (md_bits 0: no DigestInfo, as for
// TLS 1.0/1.1's MD5+SHA-1) or RSA_PKCS1_PSS_PADDING (salt: a length or
// one of the RSA_PSS_SALTLEN_* values). On failure it returns 0 and sets
// *err.
static int tp_sign(EVP_PKEY *key, int pad, int md_bits, int salt,
		const unsigned char *tbs, size_t tbslen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	EVP_PKEY_CTX *ctx = tp_prepare(key, pad, md_bits, salt, err);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = tp_sign_ctx(ctx, tbs, tbslen, sig, siglen, err);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Available reports whether this build signs with libcrypto.
func Available() bool { return true }

// Describe names the libcrypto in use, e.g. "OpenSSL 3.0.19 27 Jan 2026".
func Describe() string { return C.GoString(C.OpenSSL_version(C.OPENSSL_VERSION)) }

// cKey owns one EVP_PKEY and its prepared signing contexts; a cleanup
// frees them once the cKey is unreachable.
type cKey struct {
	pkey *C.EVP_PKEY
	size int // EVP_PKEY_get_size: the longest signature
	pool *ctxPool
	// thread: sign on a signing thread (signthread_cgo.go), for RSA keys,
	// whose signatures take long enough for a cgo call to cost the
	// scheduler more than the hand-over does.
	thread bool
}

// ctxParams is what a prepared context was made for.
type ctxParams struct{ pad, mdBits, salt C.int }

// maxIdleCtx bounds the prepared contexts kept per parameter set: as many
// as signatures run at once, which GOMAXPROCS bounds in practice.
const maxIdleCtx = 16

// ctxPool holds the prepared contexts of one key that no signature is
// using.
type ctxPool struct {
	mu   sync.Mutex
	idle map[ctxParams][]*C.EVP_PKEY_CTX
}

func (p *ctxPool) get(k ctxParams) *C.EVP_PKEY_CTX {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[k]
	if len(l) == 0 {
		return nil
	}
	ctx := l[len(l)-1]
	p.idle[k] = l[:len(l)-1]
	return ctx
}

func (p *ctxPool) put(k ctxParams, ctx *C.EVP_PKEY_CTX) {
	p.mu.Lock()
	if len(p.idle[k]) < maxIdleCtx {
		p.idle[k] = append(p.idle[k], ctx)
		ctx = nil
	}
	p.mu.Unlock()
	if ctx != nil {
		C.EVP_PKEY_CTX_free(ctx)
	}
}

// free releases every idle context; it runs once the key is unreachable.
func (p *ctxPool) free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, l := range p.idle {
		for _, ctx := range l {
			C.EVP_PKEY_CTX_free(ctx)
		}
		delete(p.idle, k)
	}
}

// initErr is the result of loading OpenSSL's configuration, done once and
// explicitly so that it happens at key loading time (before any chroot).
var initErr = sync.OnceValue(func() error {
	if C.OPENSSL_init_crypto(C.OPENSSL_INIT_LOAD_CONFIG, nil) != 1 {
		return libError("OPENSSL_init_crypto", C.tp_error())
	}
	return nil
})

func newCKey(k *rsa.PrivateKey) (*cKey, error) {
	der := x509.MarshalPKCS1PrivateKey(k)
	defer clear(der)
	c, err := loadCKey(C.EVP_PKEY_RSA, der)
	if err == nil {
		c.thread = true
	}
	return c, err
}

// loadCKey decodes der, a private key of the given EVP_PKEY type, into
// libcrypto. The caller clears der.
func loadCKey(typ C.int, der []byte) (*cKey, error) {
	if err := initErr(); err != nil {
		return nil, err
	}
	if len(der) == 0 {
		return nil, errors.New("libcrypto: empty key encoding")
	}
	var code C.ulong
	pkey := C.tp_load(typ, (*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &code)
	if pkey == nil {
		return nil, libError("d2i_PrivateKey", code)
	}
	c := &cKey{pkey: pkey, size: int(C.EVP_PKEY_get_size(pkey)), pool: &ctxPool{idle: map[ctxParams][]*C.EVP_PKEY_CTX{}}}
	type owned struct {
		pkey *C.EVP_PKEY
		pool *ctxPool
	}
	runtime.AddCleanup(c, func(o owned) {
		o.pool.free() // each context holds a reference to the key
		C.EVP_PKEY_free(o.pkey)
	}, owned{pkey, c.pool})
	return c, nil
}

// PSS salt lengths of OpenSSL 3 (rsa.h).
const (
	saltDigest = -1 // RSA_PSS_SALTLEN_DIGEST
	saltMax    = -3 // RSA_PSS_SALTLEN_MAX
)

func (c *cKey) sign(p signParams, digest []byte) ([]byte, error) {
	pad, mdBits, salt := p.cParams()
	return c.evpSign(pad, mdBits, salt, digest)
}

// signFresh is sign with a context made for this signature alone (for the
// benchmark of the pool).
func (c *cKey) signFresh(p signParams, digest []byte) ([]byte, error) {
	pad, mdBits, salt := p.cParams()
	return c.evpSignFresh(pad, mdBits, salt, digest)
}

// cParams are p as tp_prepare takes them.
func (p signParams) cParams() (pad, mdBits, salt C.int) {
	if p.hash != crypto.MD5SHA1 {
		mdBits = C.int(p.hash.Size() * 8)
	}
	pad = C.int(C.RSA_PKCS1_PADDING)
	if p.pss {
		pad, salt = C.RSA_PKCS1_PSS_PADDING, C.int(p.salt)
		switch p.salt {
		case rsa.PSSSaltLengthEqualsHash:
			salt = saltDigest
		case rsa.PSSSaltLengthAuto: // Go signs with the longest salt that fits
			salt = saltMax
		}
	}
	return pad, mdBits, salt
}

// noDigest stands in for the data of an empty digest, which ECDSA signs
// too (as the integer 0), as Go does.
var noDigest [1]byte

// evpSign has tp_sign sign tbs with c's key and returns the signature.
func (c *cKey) evpSign(pad, mdBits, salt C.int, tbs []byte) ([]byte, error) {
	if c == nil || c.size <= 0 {
		return nil, errors.New("libcrypto: key not loaded")
	}
	data := &noDigest[0]
	if len(tbs) > 0 {
		data = &tbs[0]
	}
	var code C.ulong
	k := ctxParams{pad, mdBits, salt}
	ctx := c.pool.get(k)
	if ctx == nil {
		if ctx = C.tp_prepare(c.pkey, pad, mdBits, salt, &code); ctx == nil {
			runtime.KeepAlive(c)
			return nil, libError("EVP_PKEY_sign", code)
		}
	}
	if c.thread {
		tsig, ok, code, err := signOnThread(ctx, tbs, c.size)
		switch {
		case err == nil:
			c.done(k, ctx, ok)
			if !ok {
				return nil, libError("EVP_PKEY_sign", code)
			}
			return tsig, nil
		case err != errNoThread:
			runtime.KeepAlive(c) // ctx may still be in use: neither pooled nor freed
			return nil, err
		}
	}
	sig := make([]byte, c.size)
	sigLen := C.size_t(len(sig))
	ok := C.tp_sign_ctx(ctx, (*C.uchar)(unsafe.Pointer(data)), C.size_t(len(tbs)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &sigLen, &code) == 1
	c.done(k, ctx, ok)
	if !ok {
		return nil, libError("EVP_PKEY_sign", code)
	}
	return sig[:sigLen], nil
}

// done gives back a context after a signature: to the pool, or freed when
// the signature failed (its state is unknown then).
func (c *cKey) done(k ctxParams, ctx *C.EVP_PKEY_CTX, ok bool) {
	if ok {
		c.pool.put(k, ctx)
	} else {
		C.EVP_PKEY_CTX_free(ctx)
	}
	runtime.KeepAlive(c)
}

// evpSignFresh is evpSign with a context made for this signature alone
// (tp_sign), the way signatures were made before the pool; kept for the
// benchmark that measures what the pool saves.
func (c *cKey) evpSignFresh(pad, mdBits, salt C.int, tbs []byte) ([]byte, error) {
	data := &noDigest[0]
	if len(tbs) > 0 {
		data = &tbs[0]
	}
	sig := make([]byte, c.size)
	sigLen := C.size_t(len(sig))
	var code C.ulong
	ok := C.tp_sign(c.pkey, pad, mdBits, salt,
		(*C.uchar)(unsafe.Pointer(data)), C.size_t(len(tbs)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &sigLen, &code)
	runtime.KeepAlive(c)
	if ok != 1 {
		return nil, libError("EVP_PKEY_sign", code)
	}
	return sig[:sigLen], nil
}

// libError formats an OpenSSL error code.
func libError(what string, code C.ulong) error {
	var buf [256]C.char
	C.ERR_error_string_n(code, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("libcrypto: %s: %s", what, C.GoString(&buf[0]))
}

// cHeapInUse returns the bytes the C heap has handed out (tests only).
func cHeapInUse() int { return int(C.tp_heap_in_use()) }
