package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlspolicy"
)

// Settings are the files and process-wide switches of the client role,
// read before the jail: tlsproxy_client_* (or, when a request names other
// files, that request's TLS_CLIENT_INIT_PROPS) and
// tls_wildcard_matches_multiple_labels.
type Settings struct {
	CAfile, CApath string // trust store for verify/secure (and TRUSTED at any level)

	ChainFiles            string // preferred over the legacy files below
	CertFile, KeyFile     string // RSA (or any) client certificate
	ECCertFile, ECKeyFile string
	DCertFile, DKeyFile   string // DSA: not supported, ignored with a warning

	// WildcardMultipleLabels lets "*" in a certificate name match more
	// than one label (tls_wildcard_matches_multiple_labels; Postfix's
	// default is yes, so set it unless main.cf says no). It applies only
	// to requests of 3.4 and 3.5 (Start.PostfixNameMatching).
	WildcardMultipleLabels bool

	// CipherSuites, when set, maps a cipher grade and exclusions to the
	// TLS 1.0-1.2 suites to offer (a future tlspolicy cipher evaluator).
	// Nil: Go's default suites.
	CipherSuites func(grade string, exclusions []string) ([]uint16, error)
	// CipherList, when set, gives the OpenSSL cipher string of a grade and
	// exclusions, for Postfix's verbose "TLS cipher list" line.
	CipherList func(grade string, exclusions []string) string

	// SessionCache, when set, keeps sessions outside this process (tlsmgr's
	// smtp and lmtp caches, when their cache policies say cachable), so that
	// any tlsproxy process resumes them. Nil: no session is resumed (as
	// Postfix without smtp_ or lmtp_tls_session_cache_database).
	SessionCache SessionCache

	// Curves are the key-exchange groups (tls_eecdh_auto_curves, see
	// tlspolicy.KeyExchangeGroups); nil: X25519, P-256, P-521, P-384.
	Curves []tls.CurveID
	// NoTickets: no session tickets (tls_ssl_options = NO_TICKET).
	NoTickets bool
}

// curves returns the key-exchange groups to offer.
func (c *Client) curves() []tls.CurveID {
	if len(c.set.Curves) > 0 {
		return c.set.Curves
	}
	return []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP521, tls.CurveP384}
}

// SessionCache hands out the session cache of one destination: cacheType
// is the requester's (smtp or lmtp; "" is smtp), serverid the request's,
// scope everything else a resumed session must match; log, when not nil,
// receives cache hits, misses and saves as Infof. Nil means no such cache
// here: the session is not resumed, nor saved.
type SessionCache interface {
	Scoped(cacheType, serverid, scope string, log logs.Logger) tls.ClientSessionCache
}

// Client is the prepared client role: client certificates and CA store.
// It is safe for concurrent use by many sessions.
type Client struct {
	set   Settings
	certs []tls.Certificate   // client certificates, preference order
	roots []*x509.Certificate // CAfile + CApath
}

// New loads the client certificates and the CA store. Warnings go to log.
// An error means the client role cannot be initialized (Postfix: "TLS
// client initialization failed"; every client-role request then gets
// status 0).
func New(s Settings, log logs.Logger) (*Client, error) {
	c := &Client{set: s}
	var err error
	files := newFileBudget()
	if c.roots, err = loadRoots(s.CAfile, s.CApath, files); err != nil {
		return nil, &tlspolicy.CAError{CAfile: s.CAfile, CApath: s.CApath, Err: err}
	}
	if s.ChainFiles != "" {
		if s.CertFile != "" || s.ECCertFile != "" || s.DCertFile != "" {
			log.Warnf("Both tlsproxy_client_chain_files and one or more of the legacy " +
				" tlsproxy_client_cert_file, tlsproxy_client_eccert_file or tlsproxy_client_dcert_file" +
				" are non-empty; the legacy  parameters will be ignored")
		}
		if c.certs, err = loadChainFiles(s.ChainFiles, files); err != nil {
			return nil, err
		}
		return c, nil
	}
	for _, slot := range []struct{ cert, key string }{{s.ECCertFile, s.ECKeyFile}, {s.CertFile, s.KeyFile}} {
		if slot.cert == "" {
			continue
		}
		key := slot.key
		if key == "" {
			key = slot.cert
		}
		cert, err := loadKeyPair(slot.cert, key, files)
		if err != nil {
			return nil, fmt.Errorf("cannot load client certificate %s / key %s: %w", slot.cert, key, err)
		}
		c.certs = append(c.certs, cert)
	}
	if s.DCertFile != "" {
		log.Warnf("DSA certificates are not supported by this implementation: ignoring %s", s.DCertFile)
	}
	return c, nil
}

// loadKeyPair is tls.LoadX509KeyPair with bounded reads.
func loadKeyPair(certFile, keyFile string, files *fileBudget) (tls.Certificate, error) {
	certPEM, err := files.read(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := files.read(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// loadRoots reads every certificate of CAfile and of the files in CApath.
// Unreadable or non-PEM files in CApath are skipped, as OpenSSL's hashed
// directory lookup never opens them.
func loadRoots(caFile, caPath string, files *fileBudget) ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	if caFile != "" {
		data, err := files.read(caFile)
		if err != nil {
			return nil, err
		}
		certs, err := parsePEMCerts(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caFile, err)
		}
		roots = append(roots, certs...)
	}
	if caPath != "" {
		entries, err := os.ReadDir(caPath)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
				continue // never opened: a FIFO or device would block or never end
			}
			data, err := files.read(filepath.Join(caPath, e.Name()))
			if errors.Is(err, errTooMuch) {
				return nil, err
			}
			if err != nil {
				continue
			}
			if certs, err := parsePEMCerts(data); err == nil {
				roots = append(roots, certs...)
			}
		}
	}
	return roots, nil
}

func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// loadChainFiles reads *_chain_files: a sequence of PEM objects where each
// private key is followed by its certificate chain (leaf first).
func loadChainFiles(list string, files *fileBudget) ([]tls.Certificate, error) {
	var blocks []*pem.Block
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		data, err := files.read(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read TLS chain file: %w", err)
		}
		for {
			var b *pem.Block
			if b, data = pem.Decode(data); b == nil {
				break
			}
			blocks = append(blocks, b)
		}
	}
	var (
		out   []tls.Certificate
		group []*pem.Block
	)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		if !strings.HasSuffix(group[0].Type, "PRIVATE KEY") || len(group) < 2 {
			return errors.New("error loading chain: each key must be followed by its certificates")
		}
		var certPEM []byte
		for _, b := range group[1:] {
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		}
		cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(group[0]))
		if err != nil {
			return fmt.Errorf("error loading certificate chain: %w", err)
		}
		out = append(out, cert)
		group = nil
		return nil
	}
	for _, b := range blocks {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		group = append(group, b)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no private keys or certificates found in %s", list)
	}
	return out, nil
}

// clientCertificate picks the first certificate the server accepts, else
// the first one, else none (an empty certificate).
func (c *Client) clientCertificate(cri *tls.CertificateRequestInfo) *tls.Certificate {
	for i := range c.certs {
		if cri.SupportsCertificate(&c.certs[i]) == nil {
			return &c.certs[i]
		}
	}
	if len(c.certs) > 0 {
		return &c.certs[0]
	}
	return &tls.Certificate{}
}
