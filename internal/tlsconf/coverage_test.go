package tlsconf

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// How each parameter of the daemon's defaults table is handled. Every
// name that conf.DefaultsFor gives any release must be here, in one of:
//
//	honoured    the daemon acts on it (where: the text)
//	inherited   only through the default of the tlsproxy_* parameter named
//	unused      Postfix's own tlsproxy does not act on it either
//	warned      not honoured (or not fully): set to the sample value, it
//	            gets a start-up warning naming it and an "ignored:" line in
//	            tlsproxy-policy (both checked below)
//	client      client-role setting, honoured or warned by internal/tlsclient
type handling struct {
	kind   string
	detail string // where / inheriting parameter / why / sample value
}

var coverage = map[string]handling{
	// The process.
	"queue_directory":              {"honoured", "chroot jail and chdir"},
	"mail_owner":                   {"honoured", "privileges dropped to it"},
	"max_idle":                     {"honoured", "daemon idle exit"},
	"max_use":                      {"honoured", "daemon use limit"},
	"syslog_name":                  {"honoured", "log ident"},
	"syslog_facility":              {"honoured", "syslog facility"},
	"maillog_file":                 {"honoured", "postlogd logging"},
	"maillog_file_prefixes":        {"honoured", "CheckMaillogFile: fatal when maillog_file matches none"},
	"postlog_service_name":         {"honoured", "postlogd socket"},
	"myhostname":                   {"honoured", "log host name, expansions"},
	"mydomain":                     {"honoured", "expansions"},
	"process_name":                 {"honoured", "expansions"},
	"service_name":                 {"honoured", "log lines name the service (master -n)"},
	"compatibility_level":          {"honoured", "expansions of compatibility-dependent defaults"},
	"ipc_timeout":                  {"warned", "60s"},
	"ipc_idle":                     {"warned", "10s"},
	"ipc_ttl":                      {"warned", "100s"},
	"daemon_timeout":               {"unused", "tlsproxy has tlsproxy_watchdog_timeout"},
	"daemon_directory":             {"unused", "master(8) runs programs from it"},
	"data_directory":               {"honoured", "release cache file"},
	"config_directory":             {"honoured", "main.cf, tables"},
	"command_directory":            {"honoured", "postconf for the installed release"},
	"multi_instance_name":          {"honoured", "syslog_name default"},
	"multi_instance_enable":        {"unused", "postmulti(1)"},
	"multi_instance_directories":   {"unused", "postmulti(1)"},
	"alternate_config_directories": {"unused", "postfix(1) and postmulti(1)"},
	"import_environment":           {"honoured", "master(8) passes only that environment (GOMAXPROCS in README)"},
	"mail_name":                    {"unused", "SMTP banners of other daemons"},
	"mail_version":                 {"honoured", "release defaults, generation"},
	"stress":                       {"unused", "postscreen(8) and smtpd(8)"},
	"debug_peer_level":             {"unused", "tlsproxy(8) makes no debug_peer_check"},
	"debug_peer_list":              {"unused", "tlsproxy(8) makes no debug_peer_check"},

	// Global TLS.
	"tls_high_cipherlist":                  {"honoured", "cipher grades"},
	"tls_medium_cipherlist":                {"honoured", "cipher grades"},
	"tls_low_cipherlist":                   {"honoured", "cipher grades"},
	"tls_export_cipherlist":                {"honoured", "cipher grades"},
	"tls_null_cipherlist":                  {"honoured", "cipher grades"},
	"tls_eecdh_auto_curves":                {"warned", "X448 prime256v1"},
	"tls_ffdhe_auto_groups":                {"warned", "ffdhe4096"},
	"tls_eecdh_strong_curve":               {"warned", "secp521r1"},
	"tls_eecdh_ultra_curve":                {"warned", "secp521r1"},
	"tls_preempt_cipherlist":               {"warned", "yes"},
	"tls_disable_workarounds":              {"warned", "TLS_D5_BUG"},
	"tls_ssl_options":                      {"warned", "PRIORITIZE_CHACHA"},
	"tls_append_default_CA":                {"warned", "yes"},
	"tls_daemon_random_bytes":              {"warned", "64"},
	"tls_session_ticket_cipher":            {"honoured", "tlsmgr ticket keys or the session cache"},
	"tls_legacy_public_key_fingerprints":   {"warned", "yes"},
	"tls_wildcard_matches_multiple_labels": {"honoured", "client role name checks"},
	"tls_dane_digests":                     {"warned", "sha256"},
	"tls_fast_shutdown_enable":             {"warned", "no"},
	"tls_config_file":                      {"honoured", "MinProtocol, MaxProtocol, Groups; other settings warned (TestOpenSSLConfig)"},
	"tls_config_name":                      {"honoured", "OpenSSL configuration section (options.go)"},
	"tls_server_sni_maps":                  {"honoured", "server certificate by SNI"},
	"tls_trust_server_ccerts":              {"warned", "yes"},
	"tlsmgr_service_name":                  {"honoured", "tlsmgr socket"},
	"openssl_path":                         {"warned", "/opt/bin/openssl"},
	"smtpd_tls_session_cache_timeout":      {"honoured", "through tlsmgr's cache policy"},

	// tlsproxy(8) server role.
	"tlsproxy_tls_security_level":            {"honoured", "server role"},
	"tlsproxy_use_tls":                       {"honoured", "server role"},
	"tlsproxy_enforce_tls":                   {"honoured", "server role"},
	"tlsproxy_tls_ask_ccert":                 {"honoured", "server role"},
	"tlsproxy_tls_req_ccert":                 {"honoured", "server role"},
	"tlsproxy_tls_ccert_verifydepth":         {"honoured", "server role"},
	"tlsproxy_tls_chain_files":               {"honoured", "server role"},
	"tlsproxy_tls_cert_file":                 {"honoured", "server role"},
	"tlsproxy_tls_key_file":                  {"honoured", "server role"},
	"tlsproxy_tls_dcert_file":                {"warned", "/etc/postfix/dsa-cert.pem"},
	"tlsproxy_tls_dkey_file":                 {"honoured", "paired with tlsproxy_tls_dcert_file (warned)"},
	"tlsproxy_tls_eccert_file":               {"honoured", "server role"},
	"tlsproxy_tls_eckey_file":                {"honoured", "server role"},
	"tlsproxy_tls_CAfile":                    {"honoured", "server role"},
	"tlsproxy_tls_CApath":                    {"honoured", "server role"},
	"tlsproxy_tls_protocols":                 {"honoured", "server role"},
	"tlsproxy_tls_mandatory_protocols":       {"honoured", "server role"},
	"tlsproxy_tls_ciphers":                   {"honoured", "server role"},
	"tlsproxy_tls_mandatory_ciphers":         {"honoured", "server role"},
	"tlsproxy_tls_exclude_ciphers":           {"honoured", "server role"},
	"tlsproxy_tls_mandatory_exclude_ciphers": {"honoured", "server role"},
	"tlsproxy_tls_fingerprint_digest":        {"honoured", "server role"},
	"tlsproxy_tls_dh512_param_file":          {"warned", "/etc/postfix/dh512.pem"},
	"tlsproxy_tls_dh1024_param_file":         {"warned", "/etc/postfix/dh2048.pem"},
	"tlsproxy_tls_eecdh_grade":               {"unused", "no effect since Postfix 3.6 (listed as ignored)"},
	"tlsproxy_tls_loglevel":                  {"honoured", "server role"},
	"tlsproxy_tls_always_issue_session_ids":  {"honoured", "no is what Go does; the default yes is listed as ignored"},
	"tlsproxy_tls_enable_rpk":                {"warned", "yes"},
	"tlsproxy_watchdog_timeout":              {"honoured", "event loop watchdog"},
	"tlsproxy_service_name":                  {"unused", "the name clients use to find tlsproxy"},
	"tlsproxy_postfix_version":               {"honoured", "ours: client release"},

	// tlsproxy(8) client role.
	"tlsproxy_client_CAfile":             {"client", ""},
	"tlsproxy_client_CApath":             {"client", ""},
	"tlsproxy_client_chain_files":        {"client", ""},
	"tlsproxy_client_cert_file":          {"client", ""},
	"tlsproxy_client_key_file":           {"client", ""},
	"tlsproxy_client_dcert_file":         {"client", "DSA: warned by tlsclient.New"},
	"tlsproxy_client_dkey_file":          {"client", ""},
	"tlsproxy_client_eccert_file":        {"client", ""},
	"tlsproxy_client_eckey_file":         {"client", ""},
	"tlsproxy_client_fingerprint_digest": {"client", ""},
	"tlsproxy_client_loglevel":           {"client", ""},
	"tlsproxy_client_loglevel_parameter": {"client", ""},
	"tlsproxy_client_scert_verifydepth":  {"client", ""},
	"tlsproxy_client_use_tls":            {"client", "role on/off"},
	"tlsproxy_client_enforce_tls":        {"client", "role on/off"},
	"tlsproxy_client_per_site":           {"client", "role on/off"},
	"tlsproxy_client_security_level":     {"client", "role on/off"},
	"tlsproxy_client_policy_maps":        {"client", "role on/off"},
	"tlsproxy_client_level":              {"inherited", "tlsproxy_client_security_level"},
	"tlsproxy_client_policy":             {"inherited", "tlsproxy_client_policy_maps"},
	"smtp_tls_connection_reuse":          {"unused", "smtp(8) decides whether to use tlsproxy"},
}

// inheritedPrefix: smtpd_* and smtp_* names are read through the
// tlsproxy_* defaults that refer to them.
func inheritor(d map[string]conf.Param, name string) string {
	var found []string
	for n, p := range d {
		if strings.HasPrefix(n, "tlsproxy_") && strings.Contains(p.Default, "$"+name) ||
			strings.Contains(p.Default, "{$"+name+"}") && strings.HasPrefix(n, "tlsproxy_") {
			found = append(found, n)
		}
	}
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

var coverageReleases = []conf.Release{
	{Major: 3, Minor: 7, Patch: 11}, {Major: 3, Minor: 8, Patch: 6}, {Major: 3, Minor: 9, Patch: 4},
	{Major: 3, Minor: 10, Patch: 13}, {Major: 3, Minor: 11, Patch: 6}, {Major: 3, Minor: 12, Snapshot: 20260821},
}

// TestNoSilentSetting walks every parameter of every release's defaults
// table: each must be honoured, or be warned about at start-up and be
// listed as ignored by tlsproxy-policy.
func TestNoSilentSetting(t *testing.T) {
	dir := t.TempDir()
	ca := pftest.NewCA(t, "Coverage CA")
	cert, key := ca.Issue(t, "mx.example.test", []string{"mx.example.test"}, pftest.KeyECDSA256)
	pftest.WriteFiles(t, dir, map[string][]byte{"cert.pem": cert, "key.pem": key})
	base := "tlsproxy_tls_security_level = may\ntlsproxy_tls_cert_file = " + filepath.Join(dir, "cert.pem") +
		"\ntlsproxy_tls_key_file = " + filepath.Join(dir, "key.pem") + "\n"
	seen := map[string]bool{}
	for _, rel := range coverageReleases {
		d := conf.DefaultsFor(rel)
		for name := range d {
			if seen[name] {
				continue
			}
			seen[name] = true
			h, ok := coverage[name]
			if !ok && (strings.HasPrefix(name, "smtpd_") || strings.HasPrefix(name, "smtp_")) {
				if inh := inheritor(d, name); inh != "" {
					h, ok = handling{"inherited", inh}, true
				}
			}
			switch {
			case !ok:
				t.Errorf("%s (in %s's table): neither honoured nor warned about; classify it in coverage", name, rel)
			case h.kind == "inherited":
				if _, known := d[h.detail]; !known || !strings.Contains(d[h.detail].Default, name) {
					t.Errorf("%s: said to be inherited by %s, whose default is %q", name, h.detail, d[h.detail].Default)
				}
			case h.kind == "warned":
				t.Run(rel.String()+"/"+name, func(t *testing.T) {
					checkWarned(t, rel, base, name, h.detail)
				})
			}
		}
	}
	for name := range coverage {
		if !seen[name] {
			t.Errorf("%s: classified, but in no release's table", name)
		}
	}
}

// checkWarned sets name to value and requires a start-up warning and an
// ignored line that name it.
func checkWarned(t *testing.T, rel conf.Release, base, name, value string) {
	cfg, err := conf.Parse("main.cf", strings.NewReader(base+name+" = "+value+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetRelease(rel)
	s, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	srv, err := tlspolicy.NewServer(s, logs.Lines(func(l string) { warnings = append(warnings, l) }))
	if err != nil {
		t.Fatal(err)
	}
	mentions := func(lines []string) bool {
		for _, l := range lines {
			if strings.Contains(l, name) {
				return true
			}
		}
		return false
	}
	if !mentions(warnings) {
		t.Errorf("%s = %s: no start-up warning names it; warnings %q", name, value, warnings)
	}
	if !mentions(srv.Ignored) {
		t.Errorf("%s = %s: no ignored line names it; ignored %q", name, value, srv.Ignored)
	}
}
