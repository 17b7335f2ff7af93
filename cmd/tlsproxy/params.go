package main

import (
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/master"
	"tlsproxy/internal/tlspolicy"
)

// maxRetire caps the retirement time when max_idle or max_use is 0 or
// their product is larger (Postfix event_server, 3.4+).
const maxRetire = 18000 * time.Second

// loadParams reads every parameter the process needs, in the order
// Postfix's tlsproxy loads its tables, so the first bad value is the one
// Postfix would complain about.
func loadParams(cfg *conf.Config, opts master.Options) (params, error) {
	var (
		p   params
		err error
	)
	r := reader{cfg: cfg}
	p.queueDir = r.str("queue_directory")
	p.mailOwner = r.str("mail_owner")
	p.maxIdle = r.dur("max_idle")
	p.maxUse = r.int("max_use")
	p.server = serverSettings(&r)
	p.watchdog = r.dur("tlsproxy_watchdog_timeout")
	p.preempt = r.bool("tls_preempt_cipherlist")
	if r.err != nil {
		return p, r.err
	}

	if opts.MaxIdle >= 0 {
		p.maxIdle = time.Duration(opts.MaxIdle) * time.Second
	}
	if opts.MaxUse >= 0 {
		p.maxUse = opts.MaxUse
	}
	switch {
	case opts.Retire > 0:
		p.retire = time.Duration(opts.Retire) * time.Second
	case p.maxIdle <= 0 || p.maxUse <= 0:
		p.retire = maxRetire
	default:
		p.retire = min(p.maxIdle*time.Duration(p.maxUse), maxRetire)
	}
	return p, err
}

// serverSettings collects the tlsproxy_tls_* server-role parameters (each
// defaults to its smtpd_tls_* namesake through the conf defaults table).
func serverSettings(r *reader) tlspolicy.ServerSettings {
	return tlspolicy.ServerSettings{
		SecurityLevel:           r.str("tlsproxy_tls_security_level"),
		UseTLS:                  r.bool("tlsproxy_use_tls"),
		EnforceTLS:              r.bool("tlsproxy_enforce_tls"),
		AskCcert:                r.bool("tlsproxy_tls_ask_ccert"),
		ReqCcert:                r.bool("tlsproxy_tls_req_ccert"),
		VerifyDepth:             r.int("tlsproxy_tls_ccert_verifydepth"),
		ChainFiles:              r.str("tlsproxy_tls_chain_files"),
		CertFile:                r.str("tlsproxy_tls_cert_file"),
		KeyFile:                 r.str("tlsproxy_tls_key_file"),
		DCertFile:               r.str("tlsproxy_tls_dcert_file"),
		DKeyFile:                r.str("tlsproxy_tls_dkey_file"),
		ECCertFile:              r.str("tlsproxy_tls_eccert_file"),
		ECKeyFile:               r.str("tlsproxy_tls_eckey_file"),
		CAfile:                  r.str("tlsproxy_tls_CAfile"),
		CApath:                  r.str("tlsproxy_tls_CApath"),
		Protocols:               r.str("tlsproxy_tls_protocols"),
		MandatoryProtocols:      r.str("tlsproxy_tls_mandatory_protocols"),
		Ciphers:                 r.str("tlsproxy_tls_ciphers"),
		MandatoryCiphers:        r.str("tlsproxy_tls_mandatory_ciphers"),
		ExcludeCiphers:          r.str("tlsproxy_tls_exclude_ciphers"),
		MandatoryExcludeCiphers: r.str("tlsproxy_tls_mandatory_exclude_ciphers"),
		FingerprintDigest:       r.str("tlsproxy_tls_fingerprint_digest"),
		EECDHGrade:              r.str("tlsproxy_tls_eecdh_grade"),
		LogLevel:                r.str("tlsproxy_tls_loglevel"),
		DH1024ParamFile:         r.str("tlsproxy_tls_dh1024_param_file"),
		DH512ParamFile:          r.str("tlsproxy_tls_dh512_param_file"),
	}
}

// reader reads typed parameters and keeps the first error, so a table of
// lookups reads as a table.
type reader struct {
	cfg *conf.Config
	err error
}

func (r *reader) keep(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) str(name string) string {
	v, err := r.cfg.Str(name)
	r.keep(err)
	return v
}

func (r *reader) bool(name string) bool {
	v, err := r.cfg.Bool(name)
	r.keep(err)
	return v
}

func (r *reader) int(name string) int {
	v, err := r.cfg.Int(name)
	r.keep(err)
	return v
}

func (r *reader) dur(name string) time.Duration {
	v, err := r.cfg.Time(name)
	r.keep(err)
	return v
}
