package tlspolicy

import (
	"crypto/tls"
	"fmt"
	"strings"

	"tlsproxy/internal/logs"
)

// SessionSettings are the per-session server settings that a Postfix 3.12
// postscreen sends with each request (TLS_SERVER_INIT_PROPS' log level,
// TLS_SERVER_START_PROPS' requirecert, cipher grade and exclusions,
// digest); Postfix 3.12's tlsproxy applies them to that session only.
type SessionSettings struct {
	LogParam, LogLevel string // e.g. postscreen_tls_loglevel, "1"
	RequireCert        bool
	CipherGrade        string
	CipherExclusions   string // separated by commas, blanks or colons
	MDAlg              string
}

// ForSession returns a copy of s that applies r to one session: its log
// mask (requirecert adds the untrusted-certificate details and, as the
// OpenSSL security level 1 does, refuses TLSv1 and TLSv1.1), cipher suites
// and fingerprint digest. Problems Postfix reports per session (bad grade,
// unknown digest) are logged and end the session (error).
func (s *Server) ForSession(r SessionSettings, log logs.Logger) (*Server, error) {
	log = logs.OrDiscard(log)
	c := *s
	c.Config = s.Config.Clone()
	mask, err := ParseLogLevel(r.LogLevel)
	if le, ok := err.(*LogLevelError); ok {
		log.Warnf("%s", le.Warning(r.LogParam))
	}
	mask = DropTrace(mask, r.LogParam, r.LogLevel, log)
	if r.RequireCert {
		mask |= LogUntrusted
	}
	c.LogMask, c.RequireCert = mask, r.RequireCert
	if r.MDAlg != "" {
		if newDigest(strings.ToLower(r.MDAlg)) == nil {
			return nil, fmt.Errorf("Digest algorithm \"%s\" not found", r.MDAlg)
		}
		c.Digest = strings.ToLower(r.MDAlg)
	}
	if r.CipherGrade != "" {
		st := s.settings
		lists := [5]string{st.HighCipherlist, st.MediumCipherlist, st.LowCipherlist, st.ExportCipherlist, st.NullCipherlist}
		c.CipherGrade = r.CipherGrade
		c.CipherExclusions = strings.FieldsFunc(r.CipherExclusions, func(r rune) bool {
			return r == ',' || r == ':' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
		})
		list, err := CipherList(c.CipherGrade, c.CipherExclusions, lists)
		if err != nil {
			log.Warnf("%v", err)
			return nil, err
		}
		suites, err := EvalCipherString(list)
		if err != nil {
			log.Warnf("error setting cipher grade: \"%s\"", c.CipherGrade)
			return nil, err
		}
		c.CipherList, c.suites, c.Config.CipherSuites = list, suites, suites
	}
	if c.RequireCert {
		c.versions &^= 1<<(tls.VersionTLS10-tls.VersionTLS10) | 1<<(tls.VersionTLS11-tls.VersionTLS10)
		if c.versions == 0 {
			return nil, fmt.Errorf("no protocol version usable with a required client certificate")
		}
		c.Config.MinVersion, c.Config.MaxVersion = c.versions.bounds()
	}
	return &c, nil
}
