package tlspolicy

// Loading of the server's keys and certificate chains (legacy per-algorithm
// files or tlsproxy_tls_chain_files) and of the CA certificates used for
// client certificate verification. All of this happens before the jail.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"tlsproxy/internal/libcrypto"
	"tlsproxy/internal/logs"
)

const dsaUnsupported = "DSA certificates are not supported by this implementation (Go crypto/tls)"

// pemObjects returns the key and certificate blocks of data, in order.
// Other PEM blocks (parameters, CRLs, ...) are skipped.
func pemObjects(data []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" || isKeyBlock(b) {
			out = append(out, b)
		}
	}
}

func isKeyBlock(b *pem.Block) bool {
	return b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY")
}

// parseKey decodes a PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) private key.
func parseKey(b *pem.Block) (crypto.Signer, error) {
	if b.Type == "DSA PRIVATE KEY" {
		return nil, errors.New(dsaUnsupported)
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok && keyKind(s.Public()) != "" {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("cannot parse %s", b.Type)
}

// keyKind names the algorithm family of a public key ("" if unsupported).
// ECDSA curves count as one family, as in Postfix.
func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return ""
}

func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// libcryptoCurves are the ECDSA curves signed in libcrypto: those where
// OpenSSL 3.0 is clearly faster than Go. Its P-384 is generic code, about
// three times slower than Go's. Its P-256 saves about 5 µs of a 35 – 40 µs
// signature, less than it costs: a call into C that lasts more than about
// 20 µs makes the Go runtime hand the thread's work to another thread
// (measured: more futex and sysmon wake-ups per handshake). RSA (740 µs
// against Go's 1,240 µs) and P-521 gain enough.
var libcryptoCurves = map[elliptic.Curve]bool{elliptic.P521(): true}

// newCertificate builds the tls.Certificate. With -tags libcrypto an RSA
// key, or an ECDSA key on one of libcryptoCurves, signs in the system
// libcrypto (internal/libcrypto), loaded here, before the jail; if that
// fails the Go key is used as in other builds.
func newCertificate(key crypto.Signer, chain []*x509.Certificate) tls.Certificate {
	if libcrypto.Available() {
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if lk, err := libcrypto.NewRSA(k); err == nil {
				key = lk
			}
		case *ecdsa.PrivateKey:
			if libcryptoCurves[k.Curve] {
				if lk, err := libcrypto.NewECDSA(k); err == nil {
					key = lk
				}
			}
		}
	}
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func parseCerts(blocks []*pem.Block) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, b := range blocks {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// loadLegacy loads one legacy slot (slot = "RSA" or "ECDSA"): the chain
// from certFile (leaf first) and the first private key in keyFile, which
// may be the same file. Problems are logged; ok=false disables TLS.
func loadLegacy(slot, certFile, keyFile string, log logs.Logger) (tls.Certificate, bool) {
	libProblem := func(err error) { log.Warnf("TLS library problem: %v", err) }
	certData, err := os.ReadFile(certFile)
	var certBlocks []*pem.Block
	if err == nil {
		for _, b := range pemObjects(certData) {
			if b.Type == "CERTIFICATE" {
				certBlocks = append(certBlocks, b)
			}
		}
		if len(certBlocks) == 0 {
			err = errors.New("no certificate found")
		}
	}
	var chain []*x509.Certificate
	if err == nil {
		chain, err = parseCerts(certBlocks)
	}
	if err != nil {
		log.Warnf("cannot get %s certificate from file \"%s\": disabling TLS support", slot, certFile)
		libProblem(err)
		return tls.Certificate{}, false
	}
	keyData, err := os.ReadFile(keyFile)
	var key crypto.Signer
	if err == nil {
		err = errors.New("no private key found")
		for _, b := range pemObjects(keyData) {
			if isKeyBlock(b) {
				key, err = parseKey(b)
				break
			}
		}
	}
	if err != nil {
		log.Warnf("cannot get %s private key from file \"%s\": disabling TLS support", slot, keyFile)
		libProblem(err)
		return tls.Certificate{}, false
	}
	if !keyMatches(key, chain[0]) {
		log.Warnf("%s private key in %s does not match public key in %s: disabling TLS support", slot, keyFile, certFile)
		return tls.Certificate{}, false
	}
	return newCertificate(key, chain), true
}

// loadChainFiles loads tlsproxy_tls_chain_files: the files, read in order,
// form one sequence key1, cert1, [chain1], key2, cert2, ... (a single key
// may also appear after its chain). At most one key per algorithm family
// is used; DSA keys are skipped. ok=false disables TLS.
func loadChainFiles(list string, log logs.Logger) ([]tls.Certificate, bool) {
	files := strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
	where := strings.Join(files, ", ")
	fail := func(msg string) ([]tls.Certificate, bool) {
		if msg != "" {
			log.Warnf("%s", msg)
		}
		log.Warnf("error loading private keys and certificates from: %s: disabling TLS support", where)
		return nil, false
	}
	var objs []*pem.Block
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fail(fmt.Sprintf("cannot read TLS chain file: %v", err))
		}
		objs = append(objs, pemObjects(data)...)
	}
	index := make(map[*pem.Block]int, len(objs)) // 1-based position in the sequence
	var keys int
	for i, b := range objs {
		index[b] = i + 1
		if isKeyBlock(b) {
			keys++
		}
	}
	if keys == 1 && !isKeyBlock(objs[0]) { // lone key after its chain: move it first
		for i, b := range objs {
			if isKeyBlock(b) {
				objs = append([]*pem.Block{b}, append(objs[:i:i], objs[i+1:]...)...)
				break
			}
		}
	}
	if len(objs) == 0 {
		return fail(fmt.Sprintf("no private keys or certificates found in %s", where))
	}
	if !isKeyBlock(objs[0]) {
		return fail(fmt.Sprintf("error loading chain from %s: key not first", where))
	}
	var (
		out  []tls.Certificate
		seen = map[string]int{} // family -> index of the key in use
	)
	for i := 0; i < len(objs); {
		keyBlock, n := objs[i], index[objs[i]]
		j := i + 1
		for j < len(objs) && !isKeyBlock(objs[j]) {
			j++
		}
		certBlocks := objs[i+1 : j]
		i = j
		if len(certBlocks) == 0 {
			if j == len(objs) {
				return fail(fmt.Sprintf("No certs for key at index %d in %s", n, where))
			}
			return fail(fmt.Sprintf("error loading certificate chain: key at index %d in %s not followed by a certificate", n, where))
		}
		chain, err := parseCerts(certBlocks)
		if err != nil {
			return fail(fmt.Sprintf("error loading certificate chain from %s: TLS library problem: %v", where, err))
		}
		if chain[0].PublicKeyAlgorithm == x509.DSA {
			log.Warnf("%s: ignoring key at index %d in %s", dsaUnsupported, n, where)
			continue
		}
		key, err := parseKey(keyBlock)
		if err != nil {
			return fail(fmt.Sprintf("error loading private key at index %d in %s: %v", n, where, err))
		}
		if !keyMatches(key, chain[0]) {
			return fail(fmt.Sprintf("key at index %d in %s does not match next certificate", n, where))
		}
		kind := keyKind(key.Public())
		if first, dup := seen[kind]; dup {
			log.Warnf("ignoring 2nd key at index %d in %s after 1st at %d", n, where, first)
			continue
		}
		seen[kind] = n
		out = append(out, newCertificate(key, chain))
	}
	if len(out) == 0 {
		return fail("")
	}
	return out, true
}

// isHashedName reports whether name has the form OpenSSL's hashed
// directory lookup uses for certificates: 8 lower-case hex digits, a dot
// and a decimal sequence number (c_rehash, openssl rehash).
func isHashedName(name string) bool {
	hash, seq, ok := strings.Cut(name, ".")
	if !ok || len(hash) != 8 || seq == "" {
		return false
	}
	for _, c := range hash {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	for _, c := range seq {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CAError is CA data (CAfile, CApath) that cannot be loaded. Its text
// is the info line Postfix logs (both roles); Err is Go's reason, which
// goes into a "TLS library problem" warning where Postfix logs OpenSSL's
// error queue.
type CAError struct {
	CAfile, CApath string
	Err            error
}

func (e *CAError) Error() string {
	var where []string
	if e.CAfile != "" {
		where = append(where, `CAfile="`+e.CAfile+`"`)
	}
	if e.CApath != "" {
		where = append(where, `CApath="`+e.CApath+`"`)
	}
	return "cannot load Certification Authority data, " + strings.Join(where, ", ") + ": disabling TLS support"
}

func (e *CAError) Unwrap() error { return e.Err }

// loadCAs reads CAfile and the hashed certificate files of CApath, all
// before the jail, so that CApath need not exist inside it. names holds
// the CAfile certificates only (their subjects are sent in the certificate
// request, as Postfix does); verify holds both, and the system's CAs
// when system is set.
func loadCAs(caFile, caPath string, system bool) (names, verify *x509.CertPool, err error) {
	verify = x509.NewCertPool()
	if system && (caFile != "" || caPath != "") {
		// tls_append_default_CA: the system's CAs too, only with
		// CAfile or CApath set, as in Postfix.
		if sys, err := x509.SystemCertPool(); err == nil && sys != nil {
			verify = sys.Clone()
		}
	}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, err
		}
		names = x509.NewCertPool()
		for _, b := range pemObjects(data) {
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", caFile, err)
			}
			names.AddCert(c)
			verify.AddCert(c)
		}
	}
	if caPath != "" {
		entries, err := os.ReadDir(caPath)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			if !isHashedName(e.Name()) {
				continue // OpenSSL only ever looks up HASH.N names
			}
			data, err := os.ReadFile(filepath.Join(caPath, e.Name()))
			if err != nil {
				continue // subdirectories, unreadable entries: ignored, like OpenSSL's lookup
			}
			verify.AppendCertsFromPEM(data)
		}
	}
	return names, verify, nil
}
