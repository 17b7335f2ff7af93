// Package libcrypto performs the private-key operation of RSA and ECDSA
// server certificates in the system's OpenSSL libcrypto instead of in Go.
//
// Postfix's tlsproxy(8) does all of its cryptography in OpenSSL; on x86-64
// OpenSSL's RSA-2048 signature is about four times faster than Go's, which
// makes full RSA handshakes about twice as slow in Go, and its P-256 and
// P-521 ECDSA signatures are faster too. This package closes that gap and
// nothing else: certificates, keys and the whole TLS protocol are still
// parsed and run by Go (crypto/x509, crypto/tls); only the signature itself
// (EVP_PKEY_sign) is done by libcrypto. RSA signatures are made on
// signing threads of the package's own, which the calling goroutine waits
// for through Go's poller (see signthread_cgo.go: a cgo call that long
// costs the scheduler thread hand-offs). (OpenSSL 3.0's P-384 is generic
// code, about three times slower than Go's: [NewECDSA] accepts P-384 keys,
// but callers should leave them to Go.)
//
// The cgo implementation is compiled only with
//
//	go build -tags libcrypto
//
// and needs cgo, a C compiler and the libcrypto headers (Debian:
// gcc and libssl-dev). Without the tag, or with CGO_ENABLED=0,
// [Available] reports false, [NewRSA] and [NewECDSA] return
// [ErrUnavailable], and callers keep using Go's own private keys.
//
// [NewRSA] and [NewECDSA] load OpenSSL's configuration, once per process,
// so that this happens before the daemon enters its chroot jail and drops
// privileges (the algorithms themselves are built into its default
// provider: signing inside a jail with a padding or digest not used
// before opens no file). [NewECDSA] makes test signatures (one per digest
// length) and verifies them in Go, so that a broken build or library, or
// a private scalar that does not match its public key, fails at
// start-up. [NewRSA] does not sign: an RSA-2048 signature costs about a
// fifth of a whole session's CPU, and every process would pay two. An
// RSA key's Go and C halves come from the same key, and [RSAKey.Sign]
// verifies the first signature with each padding in Go before it hands
// it out, so a broken build or library fails the first handshake instead
// of sending a bad signature.
//
// RSA decryption (the rarely used TLS RSA key exchange) stays in Go, and
// so do ECDSA signatures requested without a random source (crypto/ecdsa's
// deterministic RFC 6979 signatures, which OpenSSL 3.0 cannot make).
package libcrypto
