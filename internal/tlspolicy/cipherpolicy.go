package tlspolicy

// The server's cipher policy (docs/configuration.md, "Cipher grades"): a
// grade picks one of the tls_<grade>_cipherlist strings, each exclusion
// appends ":!name", and the OpenSSL string is evaluated over Go's suites
// (cipherstring.go). Also here:
// the settings Go cannot honour, and what the server ends up offering, for
// the start-up warnings and the policy report.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"strings"

	"tlsproxy/internal/logs"
)

// Postfix 3.7 defaults of tls_<grade>_cipherlist.
const (
	DefaultHighCipherlist   = "aNULL:-aNULL:HIGH:@STRENGTH"
	DefaultMediumCipherlist = "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"
	DefaultLowCipherlist    = "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH"
	DefaultExportCipherlist = "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH"
	DefaultNullCipherlist   = "eNULL:!aNULL"
)

// TLS13Suites are the TLS 1.3 suites Go offers; no setting changes them
// (OpenSSL's cipher lists do not apply to TLS 1.3 either).
var TLS13Suites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}

// CipherList builds the OpenSSL cipher string for a grade (high, medium,
// low, export, null; any case) and exclusions, as Postfix does: the
// grade's list (lists[0..4] = high, medium, low, export, null; empty
// entries take the 3.7 default) followed by ":!name" per exclusion.
func CipherList(grade string, exclusions []string, lists [5]string) (string, error) {
	defaults := [5]string{DefaultHighCipherlist, DefaultMediumCipherlist, DefaultLowCipherlist, DefaultExportCipherlist, DefaultNullCipherlist}
	var list string
	for i, g := range []string{"high", "medium", "low", "export", "null"} {
		if strings.EqualFold(grade, g) {
			list = lists[i]
			if list == "" {
				list = defaults[i]
			}
		}
	}
	if list == "" {
		return "", fmt.Errorf("invalid cipher grade: \"%s\"", grade)
	}
	var b strings.Builder
	b.WriteString(list)
	for _, e := range exclusions {
		if e == "" {
			continue
		}
		if strings.ContainsAny(e[:1], "!+-@") {
			return "", fmt.Errorf("invalid unary '!+-@' in cipher exclusion: \"%s\"", e)
		}
		b.WriteString(":!" + e)
	}
	return b.String(), nil
}

// cipherPolicy sets the grade, exclusions and cipher string of srv and
// evaluates it. ok=false (after a warning) disables TLS.
func (srv *Server) cipherPolicy(s ServerSettings, enforce bool, log logs.Logger) (suites []uint16, ok bool) {
	gradeParam := "tlsproxy_tls_ciphers"
	srv.CipherGrade = s.Ciphers
	srv.CipherExclusions = splitCipherList(s.ExcludeCiphers)
	if enforce {
		gradeParam = "tlsproxy_tls_mandatory_ciphers"
		srv.CipherGrade = s.MandatoryCiphers
		srv.CipherExclusions = append(srv.CipherExclusions, splitCipherList(s.MandatoryExcludeCiphers)...)
	}
	if srv.AskCert {
		srv.CipherExclusions = append(srv.CipherExclusions, "aNULL")
	}
	lists := [5]string{s.HighCipherlist, s.MediumCipherlist, s.LowCipherlist, s.ExportCipherlist, s.NullCipherlist}
	list, err := CipherList(srv.CipherGrade, srv.CipherExclusions, lists)
	if err != nil {
		log.Warnf("%s = %s: %v: disabling TLS support", gradeParam, srv.CipherGrade, err)
		return nil, false
	}
	srv.CipherList = list
	switch strings.ToLower(srv.CipherGrade) {
	case "export", "low":
		srv.ignore(fmt.Sprintf("%s = %s: export and low-grade cipher suites are not supported by this"+
			" implementation (Go crypto/tls); the stronger suites Go offers are used instead", gradeParam, srv.CipherGrade), log)
	case "null":
		srv.ignore(fmt.Sprintf("%s = %s: NULL (unencrypted) cipher suites are not supported by this"+
			" implementation (Go crypto/tls)", gradeParam, srv.CipherGrade), log)
	}
	suites, err = EvalCipherString(list)
	if err != nil {
		log.Warnf("error setting cipher grade: \"%s\": %v: disabling TLS support", srv.CipherGrade, err)
		return nil, false
	}
	return suites, true
}

// ignore records a setting this implementation cannot honour; log is nil
// for harmless ones, which are only reported.
func (srv *Server) ignore(line string, log logs.Logger) {
	srv.Ignored = append(srv.Ignored, line)
	if log != nil {
		log.Warnf("%s", line)
	}
}

// noteIgnored records the settings without effect that do not depend on
// certificate files.
func (srv *Server) noteIgnored(s ServerSettings, log logs.Logger) {
	for _, p := range []struct{ name, value string }{
		{"tlsproxy_tls_dh1024_param_file", s.DH1024ParamFile},
		{"tlsproxy_tls_dh512_param_file", s.DH512ParamFile},
	} {
		if p.value != "" {
			srv.ignore(fmt.Sprintf("%s = %s is ignored: finite-field DHE is not supported by this implementation (Go crypto/tls)", p.name, p.value), log)
		}
	}
	if s.PreemptCipherlist {
		srv.ignore("tls_preempt_cipherlist = yes is not supported by this implementation"+
			" (Go crypto/tls picks the cipher suite by its own preference order)", log)
	}
	if s.EECDHGrade != "" {
		srv.ignore(fmt.Sprintf("tlsproxy_tls_eecdh_grade = %s has no effect (as in Postfix 3.6 and later):"+
			" the groups come from tls_eecdh_auto_curves and tls_ffdhe_auto_groups", s.EECDHGrade), nil)
	}
	if s.AlwaysIssueSessionIDs {
		srv.ignore("tlsproxy_tls_always_issue_session_ids = yes has no effect: Go crypto/tls issues no"+
			" TLS 1.2 session IDs (sessions resume with tickets only)", nil)
	}
	if srv.LogMask&(LogTLSPkts|LogAllPkts) != 0 {
		srv.ignore(fmt.Sprintf("tlsproxy_tls_loglevel = %s: packet dumps (levels 3 and 4) are not produced by this implementation", s.LogLevel), nil)
	}
}

// Versions returns the protocol versions the server accepts, lowest
// first (none when TLS is disabled).
func (srv *Server) Versions() []uint16 {
	var out []uint16
	if !srv.Enabled {
		return nil
	}
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		if srv.versions.has(v) {
			out = append(out, v)
		}
	}
	return out
}

// Certificates returns the server's certificates in preference order.
func (srv *Server) Certificates() []tls.Certificate {
	return append([]tls.Certificate(nil), srv.certs...)
}

// Offered returns the cipher suites a client can get with protocol
// version v: Go's TLS 1.3 suites, or for older versions the configured
// suites (in OpenSSL order) that version allows and one of the
// certificates can serve. Go chooses among them by its own preference.
func (srv *Server) Offered(v uint16) []uint16 {
	if !srv.Enabled {
		return nil
	}
	return srv.offered(v)
}

func (srv *Server) offered(v uint16) []uint16 {
	if !srv.versions.has(v) {
		return nil
	}
	if v == tls.VersionTLS13 {
		return TLS13Suites
	}
	var out []uint16
	for _, id := range srv.suites {
		if srv.canServe(id, v) {
			out = append(out, id)
		}
	}
	return out
}

func (srv *Server) anyOffered() bool {
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		if len(srv.offered(v)) > 0 {
			return true
		}
	}
	return false
}

// canServe reports whether suite id works with version v and one of the
// certificates: RSA suites need an RSA key; ECDSA suites an ECDSA key, or
// an Ed25519 key with TLS 1.2.
func (srv *Server) canServe(id uint16, v uint16) bool {
	var c *opensslSuite
	for i := range opensslSuites {
		if opensslSuites[i].id == id {
			c = &opensslSuites[i]
		}
	}
	if c == nil || c.minVersion == minTLS12 && v < tls.VersionTLS12 {
		return false
	}
	for i := range srv.certs {
		leaf := leafOf(&srv.certs[i])
		if leaf == nil {
			continue
		}
		switch leaf.PublicKey.(type) {
		case *rsa.PublicKey:
			if c.au == auRSA {
				return true
			}
		case *ecdsa.PublicKey:
			if c.au == auECDSA {
				return true
			}
		case ed25519.PublicKey:
			if c.au == auECDSA && v == tls.VersionTLS12 {
				return true
			}
		}
	}
	return false
}
