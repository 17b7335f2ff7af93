// Package tlsconf reads tlsproxy's TLS parameters from a loaded main.cf
// (internal/conf) into tlspolicy.ServerSettings. The daemon (cmd/tlsproxy)
// and the policy report (cmd/tlsproxy-policy) share it, so both see the
// same configuration.
//
// It mirrors the parameter tables of Postfix's tlsproxy(8) 3.7: every
// tlsproxy_tls_* server parameter, which defaults to its smtpd_tls_*
// namesake through the conf defaults table, and the global tls_*
// parameters that the TLS library initialization reads
// (docs/configuration.md).
// Values are read in the order Postfix reads them, so the first bad value
// is the one Postfix would report.
package tlsconf

import (
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/tlspolicy"
)

// Reader reads typed parameters and keeps the first error, so a table of
// lookups reads as a table.
type Reader struct {
	cfg *conf.Config
	err error
}

// NewReader returns a Reader of cfg.
func NewReader(cfg *conf.Config) *Reader { return &Reader{cfg: cfg} }

// Err returns the first error of any lookup so far.
func (r *Reader) Err() error { return r.err }

func (r *Reader) keep(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Str returns a string parameter.
func (r *Reader) Str(name string) string {
	v, err := r.cfg.Str(name)
	r.keep(err)
	return v
}

// Bool returns a yes/no parameter.
func (r *Reader) Bool(name string) bool {
	v, err := r.cfg.Bool(name)
	r.keep(err)
	return v
}

// Int returns an integer parameter.
func (r *Reader) Int(name string) int {
	v, err := r.cfg.Int(name)
	r.keep(err)
	return v
}

// Dur returns a time parameter.
func (r *Reader) Dur(name string) time.Duration {
	v, err := r.cfg.Time(name)
	r.keep(err)
	return v
}

// ServerSettings collects the tlsproxy_tls_* server-role parameters. The
// global tls_* fields stay empty: see [GlobalSettings].
func ServerSettings(r *Reader) tlspolicy.ServerSettings {
	return tlspolicy.ServerSettings{
		SecurityLevel:           r.Str("tlsproxy_tls_security_level"),
		UseTLS:                  r.Bool("tlsproxy_use_tls"),
		EnforceTLS:              r.Bool("tlsproxy_enforce_tls"),
		AskCcert:                r.Bool("tlsproxy_tls_ask_ccert"),
		ReqCcert:                r.Bool("tlsproxy_tls_req_ccert"),
		VerifyDepth:             r.Int("tlsproxy_tls_ccert_verifydepth"),
		ChainFiles:              r.Str("tlsproxy_tls_chain_files"),
		CertFile:                r.Str("tlsproxy_tls_cert_file"),
		KeyFile:                 r.Str("tlsproxy_tls_key_file"),
		DCertFile:               r.Str("tlsproxy_tls_dcert_file"),
		DKeyFile:                r.Str("tlsproxy_tls_dkey_file"),
		ECCertFile:              r.Str("tlsproxy_tls_eccert_file"),
		ECKeyFile:               r.Str("tlsproxy_tls_eckey_file"),
		CAfile:                  r.Str("tlsproxy_tls_CAfile"),
		CApath:                  r.Str("tlsproxy_tls_CApath"),
		Protocols:               r.Str("tlsproxy_tls_protocols"),
		MandatoryProtocols:      r.Str("tlsproxy_tls_mandatory_protocols"),
		Ciphers:                 r.Str("tlsproxy_tls_ciphers"),
		MandatoryCiphers:        r.Str("tlsproxy_tls_mandatory_ciphers"),
		ExcludeCiphers:          r.Str("tlsproxy_tls_exclude_ciphers"),
		MandatoryExcludeCiphers: r.Str("tlsproxy_tls_mandatory_exclude_ciphers"),
		FingerprintDigest:       r.Str("tlsproxy_tls_fingerprint_digest"),
		EECDHGrade:              r.Str("tlsproxy_tls_eecdh_grade"),
		LogLevel:                r.Str("tlsproxy_tls_loglevel"),
		DH1024ParamFile:         r.Str("tlsproxy_tls_dh1024_param_file"),
		DH512ParamFile:          r.Str("tlsproxy_tls_dh512_param_file"),
		AlwaysIssueSessionIDs:   r.Bool("tlsproxy_tls_always_issue_session_ids"),
	}
}

// GlobalSettings adds the global tls_* parameters, which Postfix reads
// later, during TLS library initialization.
func GlobalSettings(r *Reader, s *tlspolicy.ServerSettings) {
	s.HighCipherlist = r.Str("tls_high_cipherlist")
	s.MediumCipherlist = r.Str("tls_medium_cipherlist")
	s.LowCipherlist = r.Str("tls_low_cipherlist")
	s.ExportCipherlist = r.Str("tls_export_cipherlist")
	s.NullCipherlist = r.Str("tls_null_cipherlist")
	s.PreemptCipherlist = r.Bool("tls_preempt_cipherlist")
	if release(r.cfg) >= 308 {
		// 3.8 and later: the low and export grades mean medium.
		s.LowCipherlist, s.ExportCipherlist = s.MediumCipherlist, s.MediumCipherlist
	}
	s.Global = Global(r)
}

// Load reads every server-role setting: [ServerSettings], then
// [GlobalSettings].
func Load(cfg *conf.Config) (tlspolicy.ServerSettings, error) {
	r := NewReader(cfg)
	s := ServerSettings(r)
	GlobalSettings(r, &s)
	return s, r.Err()
}
