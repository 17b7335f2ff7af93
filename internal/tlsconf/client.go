package tlsconf

import "strconv"

// Client is the client role's tlsproxy_client_* configuration: what turns
// the role on, and the settings of the TLS client context tlsproxy makes
// before the jail.
type Client struct {
	// SecurityLevel, UseTLS, EnforceTLS, PerSite and PolicyMaps only
	// decide whether the role is on (each request brings its own level).
	SecurityLevel       string
	UseTLS, EnforceTLS  bool
	PerSite, PolicyMaps string
	// Init is the pre-jail context's TLS_CLIENT_INIT_PROPS by attribute
	// name, without cache_type, which is the requester's.
	Init map[string]string
}

// ClientSettings collects the tlsproxy_client_* client-role parameters,
// in the order Postfix reads them, beside [ServerSettings] for the server
// role.
func ClientSettings(r *Reader) Client {
	return Client{
		SecurityLevel: r.Str("tlsproxy_client_security_level"),
		UseTLS:        r.Bool("tlsproxy_client_use_tls"),
		EnforceTLS:    r.Bool("tlsproxy_client_enforce_tls"),
		PerSite:       r.Str("tlsproxy_client_per_site"),
		PolicyMaps:    r.Str("tlsproxy_client_policy_maps"),
		Init: map[string]string{
			"log_param":   r.Str("tlsproxy_client_loglevel_parameter"),
			"log_level":   r.Str("tlsproxy_client_loglevel"),
			"verifydepth": strconv.Itoa(r.Int("tlsproxy_client_scert_verifydepth")),
			"chain_files": r.Str("tlsproxy_client_chain_files"),
			"cert_file":   r.Str("tlsproxy_client_cert_file"),
			"key_file":    r.Str("tlsproxy_client_key_file"),
			"dcert_file":  r.Str("tlsproxy_client_dcert_file"),
			"dkey_file":   r.Str("tlsproxy_client_dkey_file"),
			"eccert_file": r.Str("tlsproxy_client_eccert_file"),
			"eckey_file":  r.Str("tlsproxy_client_eckey_file"),
			"CAfile":      r.Str("tlsproxy_client_CAfile"),
			"CApath":      r.Str("tlsproxy_client_CApath"),
			"mdalg":       r.Str("tlsproxy_client_fingerprint_digest"),
		},
	}
}
