package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlspolicy"
)

// TLS_LEV_* security levels (docs/protocol.md, "TLS levels").
const (
	LevelNone        = 0
	LevelMay         = 1
	LevelEncrypt     = 2
	LevelFingerprint = 3
	LevelHalfDane    = 4
	LevelDane        = 5
	LevelDaneOnly    = 6
	LevelVerify      = 7
	LevelSecure      = 8
)

// mustMatch reports whether a level requires a name/TLSA match (Postfix:
// every level above encrypt; smtp(8) defers the mail without one).
func mustMatch(level int) bool { return level > LevelEncrypt }

func daneBased(level int) bool { return level > LevelEncrypt && level < LevelVerify }

// TLSA is one TLSA record of the request's DANE structure. MType 255 is
// Postfix's private "fingerprint with mdalg" type.
type TLSA struct {
	Usage, Selector, MType int
	Data                   []byte
}

// Start describes one session, from the request's TLS_CLIENT_START_PROPS
// (and, for LogParam, LogLevel and VerifyDepth, its TLS_CLIENT_INIT_PROPS).
type Start struct {
	Level            int    // tls_level, TLS_LEV_*
	NextHop, Host    string // destination domain, MX host name
	NamAddr          string // "host[addr]:port" for logging
	SNI              string // "" (none), "hostname", "nexthop" or a name
	ServerID, Helo   string
	CacheType        string // the requester's session cache: "smtp" (also when empty) or "lmtp"
	Protocols        string // Postfix protocol list, e.g. ">=TLSv1"
	CipherGrade      string // high, medium, low, export, null
	CipherExclusions string
	MDAlg            string // fingerprint digest (peer fingerprints, TLSA type 255)
	MatchNames       []string
	DANEDomain       string // TLSA base domain
	TLSA             []TLSA
	LogParam         string // name of the log level parameter, for warnings
	LogLevel         string
	VerifyDepth      int

	// PostfixNameMatching: the requester is Postfix 3.4 or 3.5, which
	// matched certificate names itself, so "*" spans several labels when
	// Settings.WildcardMultipleLabels says so. From 3.6 on Postfix leaves
	// name checks to OpenSSL, where "*" is exactly one label.
	PostfixNameMatching bool
}

// Session is one prepared client handshake.
type Session struct {
	c     *Client
	st    Start
	log   logs.Logger
	mask  tlspolicy.LogMask
	level int    // effective level (dane may fall back to encrypt)
	sni   string // name sent, "" for none
	cfg   *tls.Config

	nameCheck bool      // OpenSSL would check names (SSL_add1_host)
	refs      []refName // reference names
	ee, ta    []usableTLSA
	dane      bool // TLSA records are in force (DANE, fingerprint or trust anchors)
	mustFail  bool // verification can never succeed (Postfix must_fail)
	sigChecks int  // signature checks of the last verification (tests)
	noMatch   bool // a level that needs a TLSA match, without records

	mu   sync.Mutex
	sent *tls.Certificate // client certificate sent, if any
}

// usableTLSA is a TLSA record that passed the usability checks, with the
// certificate or public key of an unhashed (type 0) record.
type usableTLSA struct {
	TLSA
	cert   *x509.Certificate // usage 2/3, selector 0, mtype 0
	spki   []byte            // selector 1, mtype 0: DER SubjectPublicKeyInfo
	digest string            // mtype 1, 2, 255: digest name for tlspolicy.Fingerprint
}

// ErrSetup is wrapped by every NewSession error: TLS cannot start for this
// session (Postfix's tls_client_start returns no context; tlsproxy ends
// the session before the handshake).
var ErrSetup = errors.New("cannot start TLS session")

// NewSession prepares a session as Postfix's tls_client_start does before
// SSL_connect, logging its warnings and verbose lines through log.
func (c *Client) NewSession(st Start, log logs.Logger) (*Session, error) {
	s := &Session{c: c, st: st, log: log, level: st.Level}
	mask, err := tlspolicy.ParseLogLevel(st.LogLevel)
	var le *tlspolicy.LogLevelError
	if errors.As(err, &le) {
		log.Warnf("%s", le.Warning(st.LogParam))
	}
	mask = tlspolicy.DropTrace(mask, st.LogParam, st.LogLevel, log) // 3.12 "trace": no SSL_trace() here
	if mustMatch(st.Level) {
		mask |= tlspolicy.LogUntrusted
	}
	s.mask = mask
	fail := func(format string, a ...any) (*Session, error) {
		msg := fmt.Sprintf(format, a...)
		log.Warnf("%s", msg)
		return nil, fmt.Errorf("%w: %s", ErrSetup, msg)
	}
	if s.mask&tlspolicy.LogVerbose != 0 {
		log.Infof("setting up TLS connection to %s", st.NamAddr)
	}
	if tlspolicy.Fingerprint(st.MDAlg, nil) == "" {
		return fail("Digest algorithm \"%s\" not found: disabling TLS support", st.MDAlg)
	}
	minV, maxV, err := tlspolicy.ParseProtocols(st.Protocols)
	if err != nil {
		return fail("%s: Invalid TLS protocol list \"%s\": aborting TLS session", st.NamAddr, st.Protocols)
	}
	suites, err := s.cipherSuites()
	if err != nil {
		return fail("%s", err.Error())
	}
	if err := s.authEnable(); err != nil {
		return fail("%s", err.Error())
	}
	s.loadTLSA()
	s.cfg = &tls.Config{
		ServerName:         s.sni,
		InsecureSkipVerify: true, // verification is reported by Evaluate, never enforced
		MinVersion:         minV,
		MaxVersion:         maxV,
		CipherSuites:       suites,
		CurvePreferences:   c.curves(),
		// tls_ssl_options = NO_TICKET: Go's client then resumes nothing.
		SessionTicketsDisabled: c.set.NoTickets,
		ClientSessionCache:     s.sessionCache(),
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert := c.clientCertificate(cri)
			s.mu.Lock()
			if len(cert.Certificate) > 0 {
				s.sent = cert
			}
			s.mu.Unlock()
			return cert, nil
		},
	}
	return s, nil
}

// Config is the crypto/tls configuration for tls.Client on the received
// socket.
func (s *Session) Config() *tls.Config { return s.cfg }

// Level is the effective security level after setup (dane and halfdane
// become encrypt when no TLSA record is usable).
func (s *Session) Level() int { return s.level }

// SNI is the server name sent in the handshake, "" for none.
func (s *Session) SNI() string { return s.sni }

// cipherSuites checks the grade and exclusions like Postfix's
// tls_set_ciphers and asks the Settings hook for the suites.
func (s *Session) cipherSuites() ([]uint16, error) {
	namaddr := strings.ToLower(s.st.NamAddr)
	grade := strings.ToLower(s.st.CipherGrade)
	switch grade {
	case "high", "medium", "low", "export":
	case "null":
		return nil, fmt.Errorf("%s: cipher grade \"%s\" (NULL cipher suites) is not supported by this implementation (Go crypto/tls)", namaddr, s.st.CipherGrade)
	default:
		return nil, fmt.Errorf("%s: invalid cipher grade: \"%s\"", namaddr, s.st.CipherGrade)
	}
	excl := strings.FieldsFunc(s.st.CipherExclusions, func(r rune) bool { return r == ' ' || r == ',' || r == ':' })
	for _, e := range excl {
		if strings.ContainsAny(e[:1], "!+-@") {
			return nil, fmt.Errorf("%s: invalid unary '!+-@' in cipher exclusion: %s", namaddr, e)
		}
	}
	if s.c.set.CipherList != nil && s.mask&tlspolicy.LogVerbose != 0 {
		s.log.Infof("%s: TLS cipher list \"%s\"", s.st.NamAddr, s.c.set.CipherList(grade, excl))
	}
	if s.c.set.CipherSuites == nil {
		return nil, nil
	}
	return s.c.set.CipherSuites(grade, excl)
}

// authEnable chooses the SNI name and the name checks (Postfix's
// tls_auth_enable): an explicit sni property ("hostname" and "nexthop"
// stand for those names); at the DANE levels the TLSA base domain instead
// (RFC 7672); name checks at verify, secure and, for DANE-TA, the DANE
// levels (DANE-EE matches need no name, RFC 7672 §3.1.1).
func (s *Session) authEnable() error {
	st := s.st
	switch st.SNI {
	case "hostname":
		s.sni = st.Host
	case "nexthop":
		s.sni = st.NextHop
	default:
		s.sni = st.SNI
	}
	switch {
	case daneBased(st.Level) && st.Level != LevelFingerprint:
		s.sni = st.DANEDomain
		s.nameCheck = s.hasTA()
	case st.Level == LevelVerify || st.Level == LevelSecure:
		s.nameCheck = true
	}
	if s.nameCheck {
		var count int
		s.refs, count = expandPatterns(st.MatchNames, st.NextHop, st.Host, logs.Prefixed(s.log, strings.ToLower(st.NamAddr)))
		if count == 0 || len(s.refs) == 0 {
			// No name to check against: a match must never be reported
			// without a name check.
			s.log.Warnf("%s: could not configure peer name checks", strings.ToLower(st.NamAddr))
			s.mustFail = true
		}
	}
	if len(s.sni) > 255 {
		return fmt.Errorf("%s: ignoring too long SNI hostname: %.100s", st.NamAddr, s.sni)
	}
	if s.sni != "" && s.mask&tlspolicy.LogDebug != 0 {
		s.log.Infof("%s: SNI hostname: %s", st.NamAddr, s.sni)
	}
	return nil
}

func (s *Session) hasTA() bool {
	for _, r := range s.st.TLSA {
		if r.Usage == 2 {
			return true
		}
	}
	return false
}

// loadTLSA keeps the usable TLSA records (Postfix's tls_dane_enable with
// OpenSSL's SSL_dane_tlsa_add checks) and applies the "none usable" rules.
func (s *Session) loadTLSA() {
	st := s.st
	if st.Level <= LevelEncrypt {
		return
	}
	if len(st.TLSA) == 0 {
		// verify, secure: no trust-anchor files; the CA store and name
		// checks decide. The fingerprint and DANE levels with no records
		// at all (posttls-finger drops a fingerprint it cannot use) get no
		// DANE and no warning, as in Postfix: the chain is checked as at
		// "encrypt", and nothing can match.
		s.noMatch = st.Level != LevelVerify && st.Level != LevelSecure
		return
	}
	namaddr := strings.ToLower(st.NamAddr)
	for _, r := range st.TLSA {
		u, ok := s.usable(r)
		if !ok {
			s.log.Warnf("%s: unusable TLSA RR: %d %d %d %s", namaddr, r.Usage, r.Selector, r.MType, hexDump(r.Data))
			continue
		}
		if r.Usage == 2 {
			s.ta = append(s.ta, u)
		} else {
			s.ee = append(s.ee, u)
		}
	}
	if len(s.ta)+len(s.ee) > 0 {
		s.dane = true
		return
	}
	s.mustFail = true
	switch st.Level {
	case LevelHalfDane, LevelDane:
		s.log.Warnf("%s: all TLSA records unusable, fallback to unauthenticated TLS", namaddr)
		s.mustFail = false
		s.level = LevelEncrypt // name checks set up above stay in force, as in OpenSSL
	case LevelFingerprint:
		s.log.Warnf("%s: all fingerprints unusable", namaddr)
	case LevelDaneOnly:
		s.log.Warnf("%s: all TLSA records unusable", namaddr)
	case LevelVerify, LevelSecure:
		s.log.Warnf("%s: all trust anchors unusable", namaddr)
	}
}

// usable applies SSL_dane_tlsa_add's checks; usages 0 and 1 (PKIX) do not
// apply to SMTP (RFC 7672 §3.1.3) and are unusable here.
func (s *Session) usable(r TLSA) (usableTLSA, bool) {
	u := usableTLSA{TLSA: r}
	if (r.Usage != 2 && r.Usage != 3) || (r.Selector != 0 && r.Selector != 1) {
		return u, false
	}
	switch r.MType {
	case 0:
		if r.Selector == 0 {
			c, err := x509.ParseCertificate(r.Data)
			if err != nil {
				return u, false
			}
			u.cert = c
		} else {
			if _, err := x509.ParsePKIXPublicKey(r.Data); err != nil {
				return u, false
			}
			u.spki = r.Data
		}
		return u, true
	case 1:
		u.digest = "sha256"
	case 2:
		u.digest = "sha512"
	case 255:
		u.digest = s.st.MDAlg
	default:
		return u, false
	}
	size := (len(tlspolicy.Fingerprint(u.digest, nil)) + 1) / 3
	return u, size > 0 && len(r.Data) == size
}

// hexDump renders TLSA data as Postfix logs it: upper-case hex, at most
// the first and last 32 bytes around "...", "..." when empty.
func hexDump(data []byte) string {
	const head, tail = 32, 32
	switch {
	case len(data) == 0:
		return "..."
	case len(data) > head+tail:
		return fmt.Sprintf("%X...%X", data[:head], data[len(data)-tail:])
	}
	return fmt.Sprintf("%X", data)
}

// sessionCache is where this session's TLS session is looked up and
// saved: tlsmgr's cache of the requester's type (smtp or lmtp), keyed by
// the serverid and the TLS settings that Postfix's smtp cache id digests
// (helo, protocols, ciphers, SNI, DANE/fingerprint state, plus level and
// peer names). Without one (no smtp_ or lmtp_tls_session_cache_database)
// it is nil and nothing is resumed, as in Postfix.
func (s *Session) sessionCache() tls.ClientSessionCache {
	if s.c.set.SessionCache == nil {
		return nil
	}
	st := s.st
	scope := fmt.Sprintf("level=%d helo=%q protocols=%q grade=%q exclusions=%q sni=%q mdalg=%q names=%q dane=%q",
		s.level, st.Helo, st.Protocols, st.CipherGrade, st.CipherExclusions, s.sni, st.MDAlg, st.MatchNames, st.DANEDomain)
	for _, r := range st.TLSA {
		scope += fmt.Sprintf(" tlsa=%d,%d,%d,%x", r.Usage, r.Selector, r.MType, r.Data)
	}
	var log logs.Logger
	if s.mask&tlspolicy.LogCache != 0 {
		log = logs.Prefixed(s.log, strings.ToLower(st.NamAddr))
	}
	if c := s.c.set.SessionCache.Scoped(st.CacheType, st.ServerID, scope, log); c != nil {
		return c
	}
	return nil // an explicit nil: no cache of the interface's type
}
