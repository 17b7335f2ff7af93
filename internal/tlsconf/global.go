package tlsconf

import (
	"fmt"
	"strings"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/tlspolicy"
)

// setAway returns the expanded value of name when main.cf (or -o) sets it
// to something other than the installed release's default, else "".
func (r *Reader) setAway(name string) string {
	v := r.Str(name)
	if !r.cfg.IsSet(name) {
		return ""
	}
	if def, err := r.cfg.DefaultValue(name); err == nil && def == v {
		return ""
	}
	return v
}

// Global reads the global tls_* settings beyond the cipher lists, the
// way the installed release has them (conf.Config.SetRelease).
func Global(r *Reader) tlspolicy.GlobalTLS {
	cfg := r.cfg
	series := release(cfg)
	g := tlspolicy.GlobalTLS{
		Groups: tlspolicy.GroupSettings{
			EECDH:        r.Str("tls_eecdh_auto_curves"),
			EECDHSet:     cfg.IsSet("tls_eecdh_auto_curves"),
			DefaultEECDH: defaultText(cfg, "tls_eecdh_auto_curves"),
			Series:       series,
		},
		SSLOptions:            r.Str("tls_ssl_options"),
		DisableWorkarounds:    r.Str("tls_disable_workarounds"),
		NoFastShutdown:        !r.Bool("tls_fast_shutdown_enable"),
		AppendDefaultCA:       r.Bool("tls_append_default_CA"),
		DaneDigests:           r.Str("tls_dane_digests"),
		ConfigFile:            r.Str("tls_config_file"),
		ConfigName:            r.Str("tls_config_name"),
		StrongCurve:           r.setAway("tls_eecdh_strong_curve"),
		UltraCurve:            r.setAway("tls_eecdh_ultra_curve"),
		RandomBytes:           r.setAway("tls_daemon_random_bytes"),
		OpenSSLPath:           r.setAway("openssl_path"),
		WildcardMultipleLabel: r.Bool("tls_wildcard_matches_multiple_labels"),
	}
	g.DaneDigestsSet = r.setAway("tls_dane_digests") != ""
	g.ConfigSet = g.ConfigFile != "default" || g.ConfigName != ""
	if cfg.Known("tls_ffdhe_auto_groups") {
		g.Groups.FFDHE = r.Str("tls_ffdhe_auto_groups")
		g.Groups.FFDHESet = cfg.IsSet("tls_ffdhe_auto_groups")
		g.Groups.DefaultFFDHE = defaultText(cfg, "tls_ffdhe_auto_groups")
	}
	if cfg.Known("tls_legacy_public_key_fingerprints") {
		g.LegacyFingerprints = r.Bool("tls_legacy_public_key_fingerprints")
	}
	if cfg.Known("tls_trust_server_ccerts") {
		g.TrustServerCcerts = r.Bool("tls_trust_server_ccerts")
	}
	var notes []string
	for _, u := range unhonoured {
		if !cfg.Known(u.name) {
			continue
		}
		if v := r.setAway(u.name); v != "" {
			notes = append(notes, fmt.Sprintf("%s = %s has no effect in this implementation: %s", u.name, v, u.why))
		}
	}
	if cfg.Known("tlsproxy_tls_enable_rpk") && r.Bool("tlsproxy_tls_enable_rpk") {
		notes = append(notes, "tlsproxy_tls_enable_rpk = yes is not supported by this implementation:"+
			" the server sends its certificate, never a raw public key")
	}
	g.Unsupported = strings.Join(notes, "\n")
	return g
}

// unhonoured are the parameters of the defaults table that this
// implementation reads but cannot act on; setting one away from its
// default gets a start-up warning and an "ignored" line in the report.
var unhonoured = []struct{ name, why string }{
	{"ipc_timeout", "the tlsmgr(8) conversation has its own fixed time limits"},
	{"ipc_idle", "the tlsmgr(8) connection stays open for the life of the process"},
	{"ipc_ttl", "the tlsmgr(8) connection stays open for the life of the process"},
}

// release is the installed release's series, major*100+minor.
func release(cfg *conf.Config) int {
	v := cfg.Release()
	return v.Major*100 + v.Minor
}

func defaultText(cfg *conf.Config, name string) string {
	p, _ := cfg.Default(name)
	return p.Default
}
