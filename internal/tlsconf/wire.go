package tlsconf

import (
	"strconv"
	"strings"

	"tlsproxy/internal/conf"
)

// WireParams returns our global tls_* settings the way Postfix programs
// send them in TLS_CLIENT_PARAMS and TLS_SERVER_PARAMS: by attribute name
// (the parameter name, config_file and config_name for tls_config_file
// and tls_config_name), booleans as 0 or 1. Only the parameters the
// installed release has are included; a value that cannot be read is
// left out (the daemon has already failed on it).
func WireParams(cfg *conf.Config) map[string]string {
	out := map[string]string{}
	for _, name := range wireParamNames {
		if !cfg.Known(name) {
			continue
		}
		wire := name
		if rest, ok := strings.CutPrefix(name, "tls_config_"); ok {
			wire = "config_" + rest
		}
		p, _ := cfg.Default(name)
		switch p.Kind {
		case conf.KindBool:
			if v, err := cfg.Bool(name); err == nil {
				out[wire] = map[bool]string{false: "0", true: "1"}[v]
			}
		case conf.KindInt:
			if v, err := cfg.Int(name); err == nil {
				out[wire] = strconv.Itoa(v)
			}
		default:
			if v, err := cfg.Str(name); err == nil {
				out[wire] = v
			}
		}
	}
	return out
}

// wireParamNames are the parameters of TLS_CLIENT_PARAMS and
// TLS_SERVER_PARAMS in any release.
var wireParamNames = []string{"tls_config_file", "tls_config_name",
	"tls_high_cipherlist", "tls_medium_cipherlist", "tls_low_cipherlist", "tls_export_cipherlist",
	"tls_null_cipherlist", "tls_eecdh_auto_curves", "tls_eecdh_strong_curve", "tls_eecdh_ultra_curve",
	"tls_ffdhe_auto_groups", "tls_disable_workarounds", "tls_ssl_options", "tls_dane_digests",
	"tlsmgr_service_name", "tls_session_ticket_cipher", "tls_daemon_random_bytes",
	"tls_append_default_CA", "tls_legacy_public_key_fingerprints", "tls_preempt_cipherlist",
	"tls_wildcard_matches_multiple_labels", "tls_server_sni_maps", "tls_fast_shutdown_enable",
	"tls_trust_server_ccerts"}
