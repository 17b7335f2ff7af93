// Package libcrypto performs the private-key operation of RSA server
// certificates in the system's OpenSSL libcrypto instead of in Go.
//
// Postfix's tlsproxy(8) does all of its cryptography in OpenSSL; on x86-64
// OpenSSL's RSA-2048 signature is about four times faster than Go's, which
// makes full RSA handshakes about twice as slow in Go. This package closes
// that gap and nothing else: certificates, keys and the whole TLS protocol
// are still parsed and run by Go (crypto/x509, crypto/tls); only the RSA
// signature itself (EVP_PKEY_sign) is done by libcrypto.
//
// The cgo implementation is compiled only with
//
//	go build -tags libcrypto
//
// and needs cgo, a C compiler and the libcrypto headers (Debian:
// gcc and libssl-dev). Without the tag, or with CGO_ENABLED=0,
// [Available] reports false, [NewRSA] returns [ErrUnavailable], and callers
// keep using Go's own *rsa.PrivateKey.
//
// [NewRSA] makes test signatures with every padding and digest TLS uses and
// verifies them in Go, so that a broken build or library fails at start-up,
// and so that OpenSSL has loaded its configuration and fetched every
// algorithm before the daemon enters its chroot jail and drops privileges.
//
// RSA decryption (the rarely used TLS RSA key exchange) stays in Go.
package libcrypto
