package tlspolicy

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"

	"tlsproxy/internal/logs"
)

// ServerSettings is the tlsproxy_tls_* configuration (docs/configuration.md),
// already expanded from main.cf.
type ServerSettings struct {
	SecurityLevel                   string
	UseTLS, EnforceTLS              bool
	AskCcert, ReqCcert              bool
	VerifyDepth                     int
	ChainFiles                      string
	CertFile, KeyFile               string
	DCertFile, DKeyFile             string
	ECCertFile, ECKeyFile           string
	CAfile, CApath                  string
	Protocols, MandatoryProtocols   string
	Ciphers, MandatoryCiphers       string
	ExcludeCiphers                  string
	MandatoryExcludeCiphers         string
	FingerprintDigest               string
	EECDHGrade                      string
	LogLevel                        string
	DH1024ParamFile, DH512ParamFile string
	AlwaysIssueSessionIDs           bool

	// Global TLS settings: tls_<grade>_cipherlist (empty = the Postfix
	// 3.7 default) and tls_preempt_cipherlist.
	HighCipherlist, MediumCipherlist, LowCipherlist string
	ExportCipherlist, NullCipherlist                string
	PreemptCipherlist                               bool

	// Global holds the other global tls_* settings (groups, options,
	// OpenSSL configuration; see options.go).
	Global GlobalTLS
}

// Server is the prepared server role, built once before the jail.
type Server struct {
	// Config is the shared TLS configuration; use SessionConfig per
	// connection to learn which certificate was served.
	Config *tls.Config
	// Enabled is false when the server role answers every request with
	// status 0 (TLS disabled by configuration or by a start-up problem).
	Enabled bool

	Enforce     bool // level encrypt: mandatory protocols/ciphers
	AskCert     bool // a client certificate is requested
	RequireCert bool // req_ccert with encrypt (reported only, never enforced)
	LogMask     LogMask
	Digest      string // fingerprint digest, lower case (e.g. "sha256")

	// Cipher policy for TLS 1.0-1.2: the grade and exclusions in effect
	// and the OpenSSL cipher string built from them (see cipherpolicy.go);
	// Config.CipherSuites holds what it selects.
	CipherGrade      string
	CipherExclusions []string
	CipherList       string

	// Ignored lists, one line each, the settings this implementation
	// cannot honour (each was also warned about unless it is harmless).
	Ignored []string

	// Options are the global tls_* settings as resolved (groups, …).
	Options Options

	versions    versionSet        // protocol versions accepted
	suites      []uint16          // TLS 1.0-1.2 suites of CipherList
	certs       []tls.Certificate // in preference order
	verifyPool  *x509.CertPool    // CAfile + CApath, for the TRUSTED bit
	verifyDepth int
	sni         *sniState      // tls_server_sni_maps (sni.go); nil: none
	serverOrder bool           // tls_preempt_cipherlist = yes (clientorder.go)
	settings    ServerSettings // what it was made from (ForSession)
}

// NewServer applies Postfix's server-role start-up rules (docs/configuration.md) and
// loads keys, certificates and CAs. Warnings, and the lines Postfix logs
// as information (CA data that cannot be loaded), go to log. A non-nil error is
// fatal (invalid security level). A Server with Enabled=false means every
// server-role request gets status 0; problems that Postfix treats as a TLS
// initialization failure (unreadable or mismatched keys and certificates,
// bad CA data, bad protocol list, unknown digest) are logged and disable
// TLS in the same way.
func NewServer(s ServerSettings, log logs.Logger) (*Server, error) {
	use, enforce := s.UseTLS, s.EnforceTLS
	if s.SecurityLevel != "" {
		switch s.SecurityLevel {
		case "none":
			use, enforce = false, false
		case "may":
			use, enforce = true, false
		case "encrypt":
			use, enforce = true, true
		case "fingerprint", "verify", "secure":
			log.Warnf("tlsproxy_tls_security_level: unsupported TLS level \"%s\", using \"encrypt\"", s.SecurityLevel)
			use, enforce = true, true
		default:
			return nil, fmt.Errorf("Invalid TLS level \"%s\"", s.SecurityLevel)
		}
	}
	use = use || enforce
	srv := &Server{Config: &tls.Config{}}
	if !use {
		log.Warnf("TLS server role is disabled with tlsproxy_tls_security_level or tlsproxy_use_tls")
		return srv, nil
	}
	// The TLS library's global settings: Postfix reads them when it
	// initializes the library, before the server context.
	srv.Options = s.Global.Resolve(log)
	srv.Ignored = append(srv.Ignored, srv.Options.Notes...)
	if srv.Options.Fatal != "" {
		return srv, nil
	}
	srv.Enforce = enforce
	srv.AskCert = s.AskCcert || (enforce && s.ReqCcert)
	srv.RequireCert = enforce && s.ReqCcert

	// Certificate presence rules.
	certFile, noCertOK := s.CertFile, false
	if strings.EqualFold(certFile, "none") {
		certFile, noCertOK = "", true
	}
	haveCert := certFile != "" || s.DCertFile != "" || s.ECCertFile != ""
	useChains := s.ChainFiles != ""
	if useChains {
		if haveCert {
			log.Warnf("Both tlsproxy_tls_chain_files and one or more of the legacy " +
				" tlsproxy_tls_cert_file, tlsproxy_tls_eccert_file or tlsproxy_tls_dcert_file" +
				" are non-empty; the legacy  parameters will be ignored")
		}
		haveCert = true
	}
	if !haveCert && srv.AskCert {
		log.Warnf("Need a server cert to request client certs")
	}
	if !enforce && s.ReqCcert {
		log.Warnf("Can't require client certs unless TLS is required")
	}
	if !haveCert && !(noCertOK && !srv.AskCert) {
		log.Warnf("No server certs available. TLS can't be enabled")
		return srv, nil
	}
	if !haveCert {
		log.Warnf("anonymous TLS (tlsproxy_tls_cert_file = none without other certificates) is not supported" +
			" by this implementation (Go crypto/tls has no aNULL cipher suites): disabling TLS support")
		return srv, nil
	}

	// Settings that do not depend on files.
	mask, err := ParseLogLevel(s.LogLevel)
	if le, ok := err.(*LogLevelError); ok {
		log.Warnf("%s", le.Warning("tlsproxy_tls_loglevel"))
	}
	if mask&LogTrace != 0 {
		mask = DropTrace(mask, "tlsproxy_tls_loglevel", s.LogLevel, log)
		srv.ignore(fmt.Sprintf("tlsproxy_tls_loglevel = %s: \"trace\" (SSL_trace() output) is not produced by this implementation", s.LogLevel), nil)
	}
	if srv.RequireCert {
		mask |= LogUntrusted
	}
	srv.LogMask = mask
	srv.Digest = strings.ToLower(s.FingerprintDigest)
	if newDigest(srv.Digest) == nil {
		log.Warnf("Digest algorithm \"%s\" not found: disabling TLS support", s.FingerprintDigest)
		return srv, nil
	}
	protocols := s.Protocols
	if enforce {
		protocols = s.MandatoryProtocols
	}
	versions, err := parseProtocolSet(protocols)
	if err != nil {
		if pe, ok := err.(*ProtocolError); ok && pe.Token != "" {
			log.Warnf("Invalid TLS protocol list \"%s\": disabling TLS support", protocols)
		} else {
			log.Warnf("%v: disabling TLS support", err)
		}
		return srv, nil
	}
	if versions = srv.Options.bound(versions); versions == 0 {
		log.Warnf("TLS protocol list \"%s\" and the OpenSSL configuration's MinProtocol/MaxProtocol"+
			" leave no protocol version: disabling TLS support", protocols)
		return srv, nil
	}
	if srv.RequireCert {
		// Postfix raises OpenSSL's security level to 1 when client
		// certificates are required; OpenSSL 3 then refuses TLSv1 and
		// TLSv1.1 (their handshake hashes count as too weak).
		versions &^= 1<<(tls.VersionTLS10-tls.VersionTLS10) | 1<<(tls.VersionTLS11-tls.VersionTLS10)
		if versions == 0 {
			log.Warnf("TLS protocol list \"%s\" leaves no protocol version usable with"+
				" tlsproxy_tls_req_ccert = yes (TLSv1.2 or later): disabling TLS support", protocols)
			return srv, nil
		}
	}
	suites, ok := srv.cipherPolicy(s, enforce, log)
	if !ok {
		return srv, nil
	}
	if len(suites) == 0 {
		// OpenSSL would offer TLS 1.3 (its suites are not subject to
		// cipher lists) and fail every older handshake: so do we.
		if !versions.has(tls.VersionTLS13) {
			log.Warnf("cipher list \"%s\" selects no cipher suite this implementation (Go crypto/tls)"+
				" supports, and TLSv1.3 is disabled: disabling TLS support", srv.CipherList)
			return srv, nil
		}
		log.Warnf("cipher list \"%s\" selects no TLSv1 to TLSv1.2 cipher suite this implementation"+
			" (Go crypto/tls) supports: only TLSv1.3 is offered", srv.CipherList)
		versions &= 1 << (tls.VersionTLS13 - tls.VersionTLS10)
	}
	srv.versions, srv.suites = versions, suites
	srv.serverOrder = s.PreemptCipherlist
	srv.settings = s
	srv.noteIgnored(s, log)

	// Keys, certificates, CAs.
	if useChains {
		certs, ok := loadChainFiles(s.ChainFiles, log)
		if !ok {
			return srv, nil
		}
		srv.certs = certs
	} else {
		for _, slot := range []struct{ name, cert, key string }{
			{"ECDSA", s.ECCertFile, s.ECKeyFile},
			{"RSA", certFile, s.KeyFile},
		} {
			if slot.cert == "" {
				continue
			}
			c, ok := loadLegacy(slot.name, slot.cert, slot.key, log)
			if !ok {
				return srv, nil
			}
			srv.certs = append(srv.certs, c)
		}
		if s.DCertFile != "" {
			srv.ignore(fmt.Sprintf("%s: ignoring tlsproxy_tls_dcert_file = %s", dsaUnsupported, s.DCertFile), log)
		}
		if len(srv.certs) == 0 {
			log.Warnf("No server certs available. TLS can't be enabled")
			return srv, nil
		}
	}
	names, pool, err := loadCAs(s.CAfile, s.CApath, srv.Options.AppendSystem)
	if err != nil {
		log.Infof("%s", (&CAError{CAfile: s.CAfile, CApath: s.CApath}).Error())
		log.Warnf("TLS library problem: %v", err)
		return srv, nil
	}
	srv.verifyPool, srv.verifyDepth = pool, s.VerifyDepth

	if !srv.anyOffered() {
		log.Warnf("no cipher suite of \"%s\" can be used with the configured certificates"+
			" and protocols: disabling TLS support", srv.CipherList)
		return srv, nil
	}

	cfg := srv.Config
	cfg.MinVersion, cfg.MaxVersion = versions.bounds()
	cfg.CipherSuites = suites
	cfg.CurvePreferences = srv.Options.Curves
	cfg.GetCertificate = srv.pickCertificate
	if srv.AskCert {
		// Ask, never require, never verify during the handshake:
		// tlsproxy only reports the result.
		cfg.ClientAuth = tls.RequestClientCert
		cfg.ClientCAs = names
	}
	if versions.hasHoles() {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if !versions.has(cs.Version) {
				return fmt.Errorf("protocol %s is disabled by the TLS protocol list", protocolName(cs.Version))
			}
			return nil
		}
	}
	var ticketKey [32]byte
	if _, err := rand.Read(ticketKey[:]); err != nil {
		log.Warnf("cannot create session ticket key: %v: disabling TLS support", err)
		return srv, nil
	}
	cfg.SetSessionTicketKeys([][32]byte{ticketKey})    // shared by SessionConfig clones
	cfg.SessionTicketsDisabled = srv.Options.NoTickets // tls_ssl_options = NO_TICKET
	srv.Enabled = true
	return srv, nil
}

func splitCipherList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ':' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
}

// pickCertificate chooses like OpenSSL does: the first signature scheme
// in the client's preference order that one of our certificates can serve
// decides; without usable schemes (TLS 1.0/1.1) the first certificate the
// client supports wins, else the first one (the handshake then fails).
func (s *Server) pickCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(s.certs) > 1 {
		one := *hello
		for _, scheme := range hello.SignatureSchemes {
			one.SignatureSchemes = []tls.SignatureScheme{scheme}
			for i := range s.certs {
				if one.SupportsCertificate(&s.certs[i]) == nil {
					return &s.certs[i], nil
				}
			}
		}
	}
	for i := range s.certs {
		if hello.SupportsCertificate(&s.certs[i]) == nil {
			return &s.certs[i], nil
		}
	}
	return &s.certs[0], nil
}

// SessionConfig returns the TLS configuration for one connection and a
// function that reports the certificate served on it (nil before the
// handshake chose one, e.g. on TLS 1.3 resumption). The clone shares the
// session ticket key with Config.
func (s *Server) SessionConfig() (*tls.Config, func() *tls.Certificate) {
	return s.SessionConfigFor("")
}

// SessionConfigFor is SessionConfig for the peer endpoint named in log
// lines (the request's remote endpoint; "" = the socket's peer address).
func (s *Server) SessionConfigFor(endpoint string) (*tls.Config, func() *tls.Certificate) {
	cfg := s.Config.Clone()
	var (
		mu     sync.Mutex
		served *tls.Certificate
	)
	if s.Enabled {
		pick := s.sniPicker(cfg, endpoint) // the default chains without SNI maps
		if !s.serverOrder {
			followClientOrder(cfg, pick) // clientorder.go
		}
		cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := pick(hello)
			mu.Lock()
			served = c
			mu.Unlock()
			return c, err
		}
	}
	return cfg, func() *tls.Certificate {
		mu.Lock()
		defer mu.Unlock()
		return served
	}
}
