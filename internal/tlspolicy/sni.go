package tlspolicy

// Server certificate choice by the client's SNI (tls_server_sni_maps,
// Postfix 3.4+). The tables (internal/maps) are opened before the jail;
// per handshake the name is checked, looked up (exact name, then each
// parent domain with its leading dot), and the PEM data found is turned
// into chains, of which the key type the client can use is served, as for
// the default chains. The PEM data is parsed as Postfix's
// tls_load_pem_chain does, with its log lines; the result for each
// distinct data is kept, so the parsing is done once.

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"tlsproxy/internal/logs"
)

// SNILookup is the opened tls_server_sni_maps (*maps.Maps).
type SNILookup interface {
	// Find returns the contents of the files listed for key; an error
	// means a table failed (already logged).
	Find(key string) (value string, found bool, err error)
	Title() string
}

// sniState is the server's SNI configuration.
type sniState struct {
	lookup SNILookup
	log    logs.Logger

	mu    sync.Mutex
	cache map[string]*sniChains // by PEM data
}

// sniChains is the outcome of loading one PEM blob: the chains, or the
// lines logged when it failed (logged again on each use, as Postfix
// parses the data in every handshake).
type sniChains struct {
	certs    []tls.Certificate
	problems []string
}

// maxSNICache bounds the parsed chains kept; past it the cache starts over.
const maxSNICache = 1024

// errSNIAbort ends a handshake whose SNI lookup or chain failed; Go sends
// an internal_error alert, as Postfix's callback asks OpenSSL to.
var errSNIAbort = errors.New("server name (SNI) callback failed")

// SetSNI makes the server choose its certificate chain by the client's
// SNI through lookup. log receives Postfix's per-session lines. Call it
// before serving; nil lookup turns SNI maps off.
func (s *Server) SetSNI(lookup SNILookup, log logs.Logger) {
	if lookup == nil {
		s.sni = nil
		return
	}
	s.sni = &sniState{lookup: lookup, log: logs.OrDiscard(log), cache: map[string]*sniChains{}}
}

// sniPicker returns the certificate choice for one session: the SNI
// maps' chains when a name matches, else the default ones. With SNI maps
// it hooks cfg's GetConfigForClient, which Go calls on every ClientHello
// (also when a TLS 1.3 session resumes, where no certificate is chosen),
// so that the lookup, its log lines and its failures happen on every
// handshake, as with Postfix's SNI callback. endpoint names the peer in
// log lines ("" = the socket's peer address).
func (s *Server) sniPicker(cfg *tls.Config, endpoint string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := s.sni
	if st == nil {
		return s.pickCertificate
	}
	var chosen []tls.Certificate // nil: default chains
	next := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		certs, err := st.choose(hello.ServerName, peerName(endpoint, hello))
		if err != nil {
			return nil, err
		}
		chosen = certs
		if next != nil {
			return next(hello)
		}
		return nil, nil
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if chosen == nil {
			return s.pickCertificate(hello)
		}
		return (&Server{certs: chosen}).pickCertificate(hello)
	}
}

// peerName is the endpoint for log lines: the request's, else "[addr]:port"
// of the socket's peer.
func peerName(endpoint string, hello *tls.ClientHelloInfo) string {
	if endpoint != "" || hello.Conn == nil {
		return endpoint
	}
	a := hello.Conn.RemoteAddr()
	if a == nil {
		return ""
	}
	if host, port, err := net.SplitHostPort(a.String()); err == nil {
		return "[" + host + "]:" + port
	}
	return a.String()
}

// choose does what Postfix's server_sni_callback does for one name: nil
// certs and nil error mean "use the default chains".
func (st *sniState) choose(sni, peer string) ([]tls.Certificate, error) {
	if sni == "" {
		return nil, nil
	}
	if !ValidHostname(sni) {
		st.log.Warnf("TLS SNI from %s is invalid: %s", peer, sni)
		return nil, nil
	}
	var (
		pem   string
		found bool
		err   error
	)
	for cp := sni; ; {
		if pem, found, err = st.lookup.Find(cp); found || err != nil {
			break
		}
		i := strings.IndexByte(cp[1:], '.')
		if i < 0 {
			break
		}
		cp = cp[i+1:] // ".parent.domain", as Postfix tries it
	}
	if err != nil {
		st.log.Warnf("%s: %s map lookup problem", st.lookup.Title(), sni)
		return nil, errSNIAbort
	}
	if !found {
		st.log.Infof("TLS SNI %s from %s not matched, using default chain", sni, peer)
		return nil, nil
	}
	ch := st.load(sni, pem)
	for _, p := range ch.problems {
		st.log.Warnf("%s", p)
	}
	if ch.certs == nil {
		return nil, errSNIAbort
	}
	return ch.certs, nil
}

// originMark stands for "SNI data for NAME" in the problems kept in the
// cache, which is keyed by the data alone: the name, as the client sent
// it, is no part of the key, so that a client cannot make the process
// parse the same data again by varying the case of a name.
const originMark = "\x00origin\x00"

// load returns the chains of data, parsed on first use; the problems
// name the SNI as sni.
func (st *sniState) load(sni, data string) *sniChains {
	st.mu.Lock()
	ch := st.cache[data]
	st.mu.Unlock()
	if ch == nil {
		ch = &sniChains{}
		ch.certs, ch.problems = loadPEMChains([]byte(data), originMark)
		st.mu.Lock()
		if len(st.cache) >= maxSNICache {
			clear(st.cache)
		}
		st.cache[data] = ch
		st.mu.Unlock()
	}
	if len(ch.problems) == 0 {
		return ch
	}
	named := &sniChains{certs: ch.certs}
	for _, p := range ch.problems {
		named.problems = append(named.problems, strings.ReplaceAll(p, originMark, "SNI data for "+sni))
	}
	return named
}

// loadPEMChains reads (key, certificate, [chain]) sequences from data as
// Postfix's tls_load_pem_chain: each key comes first and is followed by
// its leaf certificate and issuers; at most one chain per key type. On
// failure certs is nil and problems holds Postfix's warnings, ending with
// "aborting TLS handshake".
func loadPEMChains(data []byte, origin string) (certs []tls.Certificate, problems []string) {
	const (
		stInit = iota
		stKey
		stCert
		stFail
	)
	var (
		state  = stInit
		key    crypto.Signer
		chain  []*x509.Certificate
		keyNum int
		kinds  = map[string]bool{}
		out    []tls.Certificate
	)
	warnf := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	// use adds the chain being built; false when its key does not match
	// the certificate or a chain of that key type is already loaded.
	use := func() bool {
		kind := keyKind(key.Public())
		if !keyMatches(key, chain[0]) || kinds[kind] {
			return false
		}
		kinds[kind] = true
		out = append(out, newCertificate(key, chain))
		key, chain = nil, nil
		return true
	}
	rest := data
	for objNum := 1; state != stFail; objNum++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE" || b.Type == "X509 CERTIFICATE":
			if state == stInit {
				warnf("error loading chain from %s: key not first", origin)
				state = stFail
				break
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				warnf("error loading certificate (PEM object number %d) from %s", objNum, origin)
				state = stFail
				break
			}
			chain = append(chain, c)
			state = stCert
		case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY" || b.Type == "DSA PRIVATE KEY":
			if state == stKey {
				warnf("error loading certificate chain: key at index %d in %s not followed by a certificate", keyNum, origin)
				state = stFail
				break
			}
			if state == stCert && !use() {
				warnf("error loading certificate chain: key at index %d in %s does not match the certificate", keyNum, origin)
				state = stFail
				break
			}
			k, err := parseKey(b)
			if err != nil {
				warnf("error loading private key (PEM object number %d) from %s", objNum, origin)
				if err.Error() == dsaUnsupported {
					warnf("%s", dsaUnsupported)
				}
				state = stFail
				break
			}
			key, keyNum, state = k, objNum, stKey
		default:
			warnf("loading %s: ignoring PEM type: %s", origin, b.Type)
		}
	}
	if state != stFail {
		switch state {
		case stInit:
			warnf("No PEM data in %s", origin)
		case stKey:
			warnf("No certs for key at index %d in %s", keyNum, origin)
		case stCert:
			if use() {
				return out, problems
			}
			warnf("key at index %d in %s does not match next certificate", keyNum, origin)
		}
	}
	warnf("error loading private keys and certificates from: %s: aborting TLS handshake", origin)
	return nil, problems
}

// ValidHostname is Postfix's valid_hostname without wildcards: labels
// of letters, digits, '_' and inner '-', at most 63 characters each,
// separated by single dots (none at either end), 255 at most in all,
// and not all digits.
func ValidHostname(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	label, nonNumeric := 0, false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
			nonNumeric = true
			fallthrough
		case c >= '0' && c <= '9':
			if label++; label > 63 {
				return false
			}
		case c == '.':
			if label == 0 || i == len(name)-1 {
				return false
			}
			label = 0
		case c == '-':
			nonNumeric = true
			label++
			if label == 1 || i == len(name)-1 || name[i+1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return nonNumeric
}
