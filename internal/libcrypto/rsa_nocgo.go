//go:build !(cgo && libcrypto)

package libcrypto

// The stand-in used without cgo or without the libcrypto build tag.

import "crypto/rsa"

// Available reports whether this build signs with libcrypto.
func Available() bool { return false }

// Describe says that Go's own RSA and ECDSA are in use.
func Describe() string { return "pure Go (built without -tags libcrypto)" }

type cKey struct{}

func newCKey(*rsa.PrivateKey) (*cKey, error) { return nil, ErrUnavailable }

func (*cKey) sign(signParams, []byte) ([]byte, error) { return nil, ErrUnavailable }

func cHeapInUse() int { return 0 }
