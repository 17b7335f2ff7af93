//go:build cgo && libcrypto

package libcrypto

// The libcrypto half of ECDSAKey, on the EVP_PKEY and signing helpers of
// rsa_cgo.go (tp_sign with no RSA padding).

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/evp.h>
*/
import "C"

import (
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
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

func (c *cKey) signECDSA(digest []byte) ([]byte, error) {
	return c.evpSign(0, 0, 0, digest)
}
