//go:build !(cgo && libcrypto)

package libcrypto

// The ECDSA stand-in used without cgo or without the libcrypto build tag.

import "crypto/ecdsa"

func newCKeyEC(*ecdsa.PrivateKey) (*cKey, error) { return nil, ErrUnavailable }

func (*cKey) signECDSA([]byte) ([]byte, error) { return nil, ErrUnavailable }
