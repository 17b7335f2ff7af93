//go:build cgo && libcrypto

package libcrypto

// The libcrypto half of ECDSAKey, on the EVP_PKEY and error helpers of
// rsa_cgo.go: one EVP_PKEY_CTX per signature, inside one C call.

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/err.h>
#include <openssl/evp.h>

unsigned long tp_error(void); // rsa_cgo.go

// tp_ecdsa_sign signs tbs, a digest of any length (libcrypto keeps the
// leftmost bits of one longer than the group order), and writes a DER
// ECDSA-Sig-Value to sig. On failure it returns 0 and sets *err.
static int tp_ecdsa_sign(EVP_PKEY *key, const unsigned char *tbs, size_t tbslen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	EVP_PKEY_CTX *ctx;
	int ok;

	ERR_clear_error();
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = ctx != NULL
		&& EVP_PKEY_sign_init(ctx) > 0
		&& EVP_PKEY_sign(ctx, sig, siglen, tbs, tbslen) > 0;
	if (!ok)
		*err = tp_error();
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// newCKeyEC loads k into libcrypto from its SEC 1 ECPrivateKey encoding
// (named curve and public key included), which d2i_PrivateKey reads on
// OpenSSL 3.0 and later.
func newCKeyEC(k *ecdsa.PrivateKey) (*cKey, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("libcrypto: encoding ECDSA key: %w", err)
	}
	defer clear(der)
	return loadCKey(C.EVP_PKEY_EC, der)
}

// noDigest stands in for the data of an empty digest, which is signed too
// (as the integer 0), as Go does.
var noDigest [1]byte

func (c *cKey) signECDSA(digest []byte) ([]byte, error) {
	if c == nil || c.size <= 0 {
		return nil, errors.New("libcrypto: key not loaded")
	}
	tbs := &noDigest[0]
	if len(digest) > 0 {
		tbs = &digest[0]
	}
	sig := make([]byte, c.size)
	sigLen := C.size_t(len(sig))
	var code C.ulong
	ok := C.tp_ecdsa_sign(c.pkey, (*C.uchar)(unsafe.Pointer(tbs)), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &sigLen, &code)
	runtime.KeepAlive(c)
	if ok != 1 {
		return nil, libError("EVP_PKEY_sign", code)
	}
	return sig[:sigLen], nil
}
