package conf

// Kind is the value type of a parameter; it decides which getter applies and
// how the value is validated.
type Kind uint8

// Parameter value types.
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindTime
)

func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindTime:
		return "time"
	}
	return "string"
}

// Param describes one parameter that tlsproxy reads.
type Param struct {
	// Default is the built-in default as "postconf -d" shows it (unexpanded).
	// It is empty for Runtime parameters.
	Default string
	Kind    Kind
	// Min and Max bound an int, or a time in seconds; 0 means no bound.
	Min, Max int
	// NonEmpty strings must expand to at least one character.
	NonEmpty bool
	// Runtime marks defaults computed when used (host name, program name).
	Runtime bool
	// Ours marks parameters of this implementation that Postfix itself
	// does not have (postconf does not know them).
	Ours bool
}

// Shorthands for the table below.
func str(def string) Param      { return Param{Default: def} }
func nonEmpty(def string) Param { return Param{Default: def, NonEmpty: true} }
func boolean(def string) Param  { return Param{Default: def, Kind: KindBool} }
func integer(def string, min int) Param {
	return Param{Default: def, Kind: KindInt, Min: min}
}
func duration(def string, min, max int) Param {
	return Param{Default: def, Kind: KindTime, Min: min, Max: max}
}

// Defaults lists every parameter tlsproxy reads, with the 3.7.11 default
// text. Min/Max/NonEmpty follow the limits the 3.7 daemon applies. The table
// is checked against "postconf -d" by the tests (testdata/postconf-d.golden).
var Defaults = map[string]Param{
	// Global parameters (mail_params_init and the event server skeleton).
	"queue_directory":              nonEmpty("/var/spool/postfix"),
	"mail_owner":                   nonEmpty("postfix"),
	"max_idle":                     duration("100s", 1, 0),
	"max_use":                      integer("100", 1),
	"syslog_name":                  nonEmpty("${multi_instance_name?{$multi_instance_name}:{postfix}}"),
	"syslog_facility":              nonEmpty("mail"),
	"maillog_file":                 str(""),
	"maillog_file_prefixes":        str("/var, /dev/stdout"),
	"postlog_service_name":         nonEmpty("postlog"),
	"myhostname":                   {NonEmpty: true, Runtime: true},
	"mydomain":                     {NonEmpty: true, Runtime: true},
	"process_name":                 {Runtime: true},
	"service_name":                 str(""),
	"compatibility_level":          nonEmpty("0"),
	"ipc_timeout":                  duration("3600s", 1, 0),
	"ipc_idle":                     duration("5s", 1, 0),
	"ipc_ttl":                      duration("1000s", 1, 0),
	"daemon_timeout":               duration("18000s", 1, 0),
	"daemon_directory":             nonEmpty("/usr/lib/postfix/sbin"),
	"data_directory":               nonEmpty("/var/lib/postfix"),
	"config_directory":             nonEmpty("/etc/postfix"),
	"command_directory":            nonEmpty("/usr/sbin"),
	"multi_instance_name":          str(""),
	"multi_instance_enable":        boolean("no"),
	"multi_instance_directories":   str(""),
	"alternate_config_directories": str(""),
	"import_environment":           str("MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME"),
	"mail_name":                    nonEmpty("Postfix"),
	"mail_version":                 nonEmpty("3.7.11"),
	"stress":                       str(""),
	"debug_peer_level":             integer("2", 1),
	"debug_peer_list":              str(""),

	// Global TLS parameters (TLS library initialization, docs/configuration.md).
	"tls_high_cipherlist":                  nonEmpty("aNULL:-aNULL:HIGH:@STRENGTH"),
	"tls_medium_cipherlist":                nonEmpty("aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"),
	"tls_low_cipherlist":                   nonEmpty("aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH"),
	"tls_export_cipherlist":                nonEmpty("aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH"),
	"tls_null_cipherlist":                  nonEmpty("eNULL:!aNULL"),
	"tls_eecdh_auto_curves":                nonEmpty("X25519 X448 prime256v1 secp521r1 secp384r1"),
	"tls_eecdh_strong_curve":               nonEmpty("prime256v1"),
	"tls_eecdh_ultra_curve":                nonEmpty("secp384r1"),
	"tls_preempt_cipherlist":               boolean("no"),
	"tls_disable_workarounds":              str(""),
	"tls_ssl_options":                      str(""),
	"tls_append_default_CA":                boolean("no"),
	"tls_daemon_random_bytes":              integer("32", 1),
	"tls_session_ticket_cipher":            str("aes-256-cbc"),
	"tls_legacy_public_key_fingerprints":   boolean("no"),
	"tls_wildcard_matches_multiple_labels": boolean("yes"),
	"tls_dane_digests":                     nonEmpty("sha512 sha256"),
	"tls_fast_shutdown_enable":             boolean("yes"),
	"tls_config_file":                      str("default"),
	"tls_config_name":                      str(""),
	"tls_server_sni_maps":                  str(""),
	"tlsmgr_service_name":                  nonEmpty("tlsmgr"),
	"openssl_path":                         nonEmpty("openssl"),
	"smtpd_tls_session_cache_timeout":      duration("3600s", 0, 8640000),

	// smtpd(8) parameters that tlsproxy_tls_* defaults refer to.
	"smtpd_tls_security_level":            str(""),
	"smtpd_use_tls":                       boolean("no"),
	"smtpd_enforce_tls":                   boolean("no"),
	"smtpd_tls_ask_ccert":                 boolean("no"),
	"smtpd_tls_req_ccert":                 boolean("no"),
	"smtpd_tls_ccert_verifydepth":         integer("9", 0),
	"smtpd_tls_chain_files":               str(""),
	"smtpd_tls_cert_file":                 str(""),
	"smtpd_tls_key_file":                  str("$smtpd_tls_cert_file"),
	"smtpd_tls_dcert_file":                str(""),
	"smtpd_tls_dkey_file":                 str("$smtpd_tls_dcert_file"),
	"smtpd_tls_eccert_file":               str(""),
	"smtpd_tls_eckey_file":                str("$smtpd_tls_eccert_file"),
	"smtpd_tls_CAfile":                    str(""),
	"smtpd_tls_CApath":                    str(""),
	"smtpd_tls_protocols":                 str(">=TLSv1"),
	"smtpd_tls_mandatory_protocols":       str(">=TLSv1"),
	"smtpd_tls_ciphers":                   nonEmpty("medium"),
	"smtpd_tls_mandatory_ciphers":         nonEmpty("medium"),
	"smtpd_tls_exclude_ciphers":           str(""),
	"smtpd_tls_mandatory_exclude_ciphers": str(""),
	"smtpd_tls_fingerprint_digest":        nonEmpty("${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}"),
	"smtpd_tls_dh512_param_file":          str(""),
	"smtpd_tls_dh1024_param_file":         str(""),
	"smtpd_tls_eecdh_grade":               nonEmpty("auto"),
	"smtpd_tls_loglevel":                  str("0"),
	"smtpd_tls_always_issue_session_ids":  boolean("yes"),

	// smtp(8) parameters that tlsproxy_client_* defaults refer to.
	"smtp_tls_CAfile":             str(""),
	"smtp_tls_CApath":             str(""),
	"smtp_tls_chain_files":        str(""),
	"smtp_tls_cert_file":          str(""),
	"smtp_tls_key_file":           str("$smtp_tls_cert_file"),
	"smtp_tls_dcert_file":         str(""),
	"smtp_tls_dkey_file":          str("$smtp_tls_dcert_file"),
	"smtp_tls_eccert_file":        str(""),
	"smtp_tls_eckey_file":         str("$smtp_tls_eccert_file"),
	"smtp_tls_fingerprint_digest": nonEmpty("${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}"),
	"smtp_tls_loglevel":           str("0"),
	"smtp_tls_scert_verifydepth":  integer("9", 0),
	"smtp_use_tls":                boolean("no"),
	"smtp_enforce_tls":            boolean("no"),
	"smtp_tls_per_site":           str(""),
	"smtp_tls_security_level":     str(""),
	"smtp_tls_policy_maps":        str(""),
	"smtp_tls_connection_reuse":   boolean("no"),

	// tlsproxy(8) server role.
	"tlsproxy_tls_security_level":            str("$smtpd_tls_security_level"),
	"tlsproxy_use_tls":                       boolean("$smtpd_use_tls"),
	"tlsproxy_enforce_tls":                   boolean("$smtpd_enforce_tls"),
	"tlsproxy_tls_ask_ccert":                 boolean("$smtpd_tls_ask_ccert"),
	"tlsproxy_tls_req_ccert":                 boolean("$smtpd_tls_req_ccert"),
	"tlsproxy_tls_ccert_verifydepth":         integer("$smtpd_tls_ccert_verifydepth", 0),
	"tlsproxy_tls_chain_files":               str("$smtpd_tls_chain_files"),
	"tlsproxy_tls_cert_file":                 str("$smtpd_tls_cert_file"),
	"tlsproxy_tls_key_file":                  str("$smtpd_tls_key_file"),
	"tlsproxy_tls_dcert_file":                str("$smtpd_tls_dcert_file"),
	"tlsproxy_tls_dkey_file":                 str("$smtpd_tls_dkey_file"),
	"tlsproxy_tls_eccert_file":               str("$smtpd_tls_eccert_file"),
	"tlsproxy_tls_eckey_file":                str("$smtpd_tls_eckey_file"),
	"tlsproxy_tls_CAfile":                    str("$smtpd_tls_CAfile"),
	"tlsproxy_tls_CApath":                    str("$smtpd_tls_CApath"),
	"tlsproxy_tls_protocols":                 str("$smtpd_tls_protocols"),
	"tlsproxy_tls_mandatory_protocols":       str("$smtpd_tls_mandatory_protocols"),
	"tlsproxy_tls_ciphers":                   nonEmpty("$smtpd_tls_ciphers"),
	"tlsproxy_tls_mandatory_ciphers":         nonEmpty("$smtpd_tls_mandatory_ciphers"),
	"tlsproxy_tls_exclude_ciphers":           str("$smtpd_tls_exclude_ciphers"),
	"tlsproxy_tls_mandatory_exclude_ciphers": str("$smtpd_tls_mandatory_exclude_ciphers"),
	"tlsproxy_tls_fingerprint_digest":        nonEmpty("$smtpd_tls_fingerprint_digest"),
	"tlsproxy_tls_dh512_param_file":          str("$smtpd_tls_dh512_param_file"),
	"tlsproxy_tls_dh1024_param_file":         str("$smtpd_tls_dh1024_param_file"),
	"tlsproxy_tls_eecdh_grade":               nonEmpty("$smtpd_tls_eecdh_grade"),
	"tlsproxy_tls_loglevel":                  str("$smtpd_tls_loglevel"),
	"tlsproxy_tls_always_issue_session_ids":  boolean("$smtpd_tls_always_issue_session_ids"),

	// tlsproxy(8) client role (3.4+; the *_level/*_policy names are the
	// 3.4-3.6 spellings, still honoured through the 3.7 defaults).
	"tlsproxy_client_CAfile":             str("$smtp_tls_CAfile"),
	"tlsproxy_client_CApath":             str("$smtp_tls_CApath"),
	"tlsproxy_client_chain_files":        str("$smtp_tls_chain_files"),
	"tlsproxy_client_cert_file":          str("$smtp_tls_cert_file"),
	"tlsproxy_client_key_file":           str("$smtp_tls_key_file"),
	"tlsproxy_client_dcert_file":         str("$smtp_tls_dcert_file"),
	"tlsproxy_client_dkey_file":          str("$smtp_tls_dkey_file"),
	"tlsproxy_client_eccert_file":        str("$smtp_tls_eccert_file"),
	"tlsproxy_client_eckey_file":         str("$smtp_tls_eckey_file"),
	"tlsproxy_client_fingerprint_digest": nonEmpty("$smtp_tls_fingerprint_digest"),
	"tlsproxy_client_loglevel":           str("$smtp_tls_loglevel"),
	"tlsproxy_client_loglevel_parameter": str("smtp_tls_loglevel"),
	"tlsproxy_client_scert_verifydepth":  integer("$smtp_tls_scert_verifydepth", 0),
	"tlsproxy_client_use_tls":            boolean("$smtp_use_tls"),
	"tlsproxy_client_enforce_tls":        boolean("$smtp_enforce_tls"),
	"tlsproxy_client_per_site":           str("$smtp_tls_per_site"),
	"tlsproxy_client_security_level":     str("${tlsproxy_client_level:$smtp_tls_security_level}"),
	"tlsproxy_client_policy_maps":        str("${tlsproxy_client_policy:$smtp_tls_policy_maps}"),
	"tlsproxy_client_level":              str(""),
	"tlsproxy_client_policy":             str(""),

	// tlsproxy(8) resource control and the name clients use to find it.
	"tlsproxy_watchdog_timeout": duration("10s", 10, 0),
	"tlsproxy_service_name":     nonEmpty("tlsproxy"),
	// Ours, not Postfix's: the Postfix version of tlsproxy's clients,
	// "auto" (the installed one, with a look for early client bytes) or a
	// release such as 3.7.11, 2.11.11 or 3.12-20260821 (trusted as is).
	"tlsproxy_postfix_version": {Default: "auto", NonEmpty: true, Ours: true},
}
