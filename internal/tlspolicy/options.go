package tlspolicy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"

	"tlsproxy/internal/logs"
)

// GlobalTLS are the global tls_* settings that Postfix's TLS library
// reads for both roles, beyond the cipher lists: key-exchange groups,
// OpenSSL options, shutdown, default CAs, DANE digests, fingerprints and
// the OpenSSL configuration file. Each setting is either honoured or, when
// set away from its default, warned about once at start-up and listed as
// ignored (see [GlobalTLS.Notes]).
type GlobalTLS struct {
	Groups GroupSettings

	// Values with "set" meaning: main.cf sets them to something other
	// than the installed release's default.
	SSLOptions            string
	DisableWorkarounds    string // set away from the default ("")
	NoFastShutdown        bool   // tls_fast_shutdown_enable = no
	AppendDefaultCA       bool
	DaneDigests           string
	DaneDigestsSet        bool
	LegacyFingerprints    bool // tls_legacy_public_key_fingerprints
	TrustServerCcerts     bool // tls_trust_server_ccerts (3.12)
	ConfigFile            string
	ConfigName            string
	ConfigSet             bool   // either differs from "default" / ""
	StrongCurve           string // tls_eecdh_strong_curve, when set away from its default
	UltraCurve            string // tls_eecdh_ultra_curve, likewise
	RandomBytes           string // tls_daemon_random_bytes, likewise
	OpenSSLPath           string // openssl_path, likewise
	WildcardMultipleLabel bool   // tls_wildcard_matches_multiple_labels (client role honours it)
	// Unsupported holds, one per line, notes about other parameters set
	// away from their defaults that this implementation cannot honour.
	Unsupported string
}

// Options is what GlobalTLS makes of the settings Go can express.
type Options struct {
	NoTickets    bool          // tls_ssl_options NO_TICKET
	Curves       []tls.CurveID // never empty
	GroupSource  string
	MinVersion   uint16 // from the OpenSSL configuration's MinProtocol (0: none)
	MaxVersion   uint16 // likewise MaxProtocol
	AppendSystem bool   // tls_append_default_CA: the system roots join CAfile/CApath
	// Notes are the "ignored" lines: settings this implementation cannot
	// honour; each was also logged as a warning.
	Notes []string
	// Fatal is set when Postfix would disable TLS (a bad OpenSSL
	// configuration file); the text is Postfix's warning.
	Fatal string
}

// sslOptionNames are the names Postfix accepts in tls_ssl_options.
var sslOptionNames = map[string]string{
	"legacy_server_connect":                  "",
	"no_ticket":                              "",
	"no_compression":                         "", // Go never compresses
	"no_renegotiation":                       "", // Go's server never renegotiates; its client refuses to
	"no_session_resumption_on_renegotiation": "",
	"prioritize_chacha":                      "Go crypto/tls chooses ChaCha20-Poly1305 by its own rules (when the client prefers it and has no AES hardware)",
	"enable_middlebox_compat":                "", // Go always uses TLS 1.3 middlebox compatibility mode
}

// Resolve reads the global settings: warnings go to log (nil: none),
// each also kept as a note. Groups are chosen by [KeyExchangeGroups].
func (g GlobalTLS) Resolve(log logs.Logger) Options {
	var o Options
	log = logs.OrDiscard(log)
	note := func(msg string) {
		o.Notes = append(o.Notes, msg)
		log.Warnf("%s", msg)
	}

	// OpenSSL configuration first: Postfix initializes the library
	// before it makes any context.
	groups := g.Groups
	if g.ConfigSet {
		cfgGroups, err := g.readOpenSSLConfig(&o, note)
		if err != "" {
			o.Fatal = err
			log.Warnf("%s", err)
			return o
		}
		groups.ConfigGroups = cfgGroups
	}
	choice := KeyExchangeGroups(groups, log)
	o.Curves, o.GroupSource = choice.Curves, choice.Source
	o.Notes = append(o.Notes, choice.Ignored...)

	for _, tok := range strings.FieldsFunc(g.SSLOptions, isCommaSpace) {
		why, ok := sslOptionNames[strings.ToLower(tok)]
		switch {
		case ok && strings.EqualFold(tok, "NO_TICKET"):
			o.NoTickets = true
		case ok && why != "":
			note(fmt.Sprintf("tls_ssl_options: %s has no effect in this implementation: %s", tok, why))
		case ok:
		case isHex(tok):
			note(fmt.Sprintf("tls_ssl_options: the OpenSSL option bits %s have no meaning in this implementation (Go crypto/tls): ignored", tok))
		default:
			log.Warnf("unknown tls_ssl_options value \"%s\" in \"%s\"", tok, g.SSLOptions)
		}
	}
	if g.DisableWorkarounds != "" {
		note(fmt.Sprintf("tls_disable_workarounds = %s has no effect: Go crypto/tls has none of OpenSSL's bug work-arounds", g.DisableWorkarounds))
	}
	if g.NoFastShutdown {
		note("tls_fast_shutdown_enable = no is not supported by this implementation: a TLS session ends with close_notify" +
			" without waiting for the peer's")
	}
	if g.AppendDefaultCA {
		o.AppendSystem = true
		note("tls_append_default_CA = yes: honoured in the server role (the system's CAs make client certificates" +
			" trusted); the client role trusts only CAfile and CApath")
	}
	if g.DaneDigestsSet {
		note(fmt.Sprintf("tls_dane_digests = %s is not supported by this implementation: DANE TLSA records match with"+
			" SHA-256 (type 1) and SHA-512 (type 2) as with the default", g.DaneDigests))
	}
	if g.LegacyFingerprints {
		note("tls_legacy_public_key_fingerprints = yes is not supported by this implementation: public-key" +
			" fingerprints are those of the SubjectPublicKeyInfo only")
	}
	if g.TrustServerCcerts {
		note("tls_trust_server_ccerts = yes is not supported by this implementation: client certificates are" +
			" verified against CAfile and CApath only")
	}
	for _, p := range []struct{ name, value string }{
		{"tls_eecdh_strong_curve", g.StrongCurve},
		{"tls_eecdh_ultra_curve", g.UltraCurve},
	} {
		if p.value != "" {
			note(fmt.Sprintf("%s = %s has no effect (as in Postfix 3.6 and later): the groups come from"+
				" tls_eecdh_auto_curves", p.name, p.value))
		}
	}
	if g.RandomBytes != "" {
		note(fmt.Sprintf("tls_daemon_random_bytes = %s has no effect: Go crypto/tls takes its randomness from the"+
			" kernel (tlsmgr is still asked for a seed, as a check that it answers)", g.RandomBytes))
	}
	for _, line := range strings.Split(g.Unsupported, "\n") {
		if line != "" {
			note(line)
		}
	}
	if g.OpenSSLPath != "" {
		note(fmt.Sprintf("openssl_path = %s has no effect: tlsproxy runs no openssl command", g.OpenSSLPath))
	}
	return o
}

func isHex(s string) bool {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	_, err := strconv.ParseUint(t, 16, 64)
	return t != "" && err == nil
}

// defaultOpenSSLConfig is where OpenSSL looks without OPENSSL_CONF
// (Debian's OPENSSLDIR).
const defaultOpenSSLConfig = "/usr/lib/ssl/openssl.cnf"

// readOpenSSLConfig applies tls_config_file / tls_config_name as Postfix
// 3.2+ does when either is set away from its default: "none" loads
// nothing, "default" the system's file (errors ignored, and a missing
// application section falls back to openssl_conf), an absolute path a
// file that must exist and have the section. Of the file's
// system_default SSL settings, MinProtocol and MaxProtocol bound the
// protocol versions and Groups (or Curves) is the group list used when
// both group parameters are empty; every other setting is noted. The
// error text is Postfix's warning (TLS is then disabled).
func (g GlobalTLS) readOpenSSLConfig(o *Options, note func(string)) (groups string, fatal string) {
	file, strict := g.ConfigFile, true
	switch {
	case file == "none":
		return "", ""
	case file == "default":
		strict = false
		if file = os.Getenv("OPENSSL_CONF"); file == "" {
			file = defaultOpenSSLConfig
		}
	case !strings.HasPrefix(file, "/"):
		return "", fmt.Sprintf("non-default tls_config_file = %s is not an absolute pathname, disabling TLS support", file)
	}
	name := g.ConfigName
	shown, shownFile := name, g.ConfigFile
	if shown == "" {
		shown = "global"
	}
	fail := fmt.Sprintf("error loading the '%s' settings from the %s OpenSSL configuration file, disabling TLS support", shown, shownFile)
	sections, err := parseOpenSSLConfig(file)
	if err != nil {
		if strict {
			return "", fail
		}
		return "", ""
	}
	appName := name
	if appName == "" {
		appName = "openssl_conf"
	}
	app, ok := sections[""][appName]
	if !ok && !strict {
		app, ok = sections[""]["openssl_conf"]
	}
	if !ok {
		if strict && name != "" {
			return "", fail
		}
		return "", ""
	}
	sslSect, ok := sections[app]["ssl_conf"]
	if !ok {
		for k := range sections[app] {
			note(fmt.Sprintf("OpenSSL configuration %s: module %s in [%s] is not supported by this implementation: ignored", file, k, app))
		}
		return "", ""
	}
	sysSect, ok := sections[sslSect]["system_default"]
	if !ok {
		return "", ""
	}
	for _, kv := range sectionOrder(sections, sysSect) {
		k, v := kv[0], kv[1]
		switch strings.ToLower(k) {
		case "minprotocol":
			if ver, ok := opensslProtocol(v); ok {
				o.MinVersion = ver
				continue
			}
		case "maxprotocol":
			if ver, ok := opensslProtocol(v); ok {
				o.MaxVersion = ver
				continue
			}
		case "groups", "curves":
			groups = v
			continue
		}
		note(fmt.Sprintf("OpenSSL configuration %s: %s = %s in [%s] is not supported by this implementation: ignored", file, k, v, sysSect))
	}
	return groups, ""
}

func opensslProtocol(v string) (uint16, bool) {
	switch strings.TrimSpace(v) {
	case "TLSv1":
		return tls.VersionTLS10, true
	case "TLSv1.1":
		return tls.VersionTLS11, true
	case "TLSv1.2":
		return tls.VersionTLS12, true
	case "TLSv1.3":
		return tls.VersionTLS13, true
	case "None":
		return 0, true
	}
	return 0, false
}

// openSSLSection keeps one section's settings in file order.
const orderKey = "\x00order"

// parseOpenSSLConfig reads an OpenSSL configuration file into sections
// ("" is the default section) of name = value settings. It reads at most
// 1 MiB; .include lines and $var expansion are not followed.
func parseOpenSSLConfig(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sections := map[string]map[string]string{"": {}}
	cur := ""
	sc := bufio.NewScanner(&limitedReader{f: f, left: 1 << 20})
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = strings.TrimSpace(line[1 : len(line)-1])
			if sections[cur] == nil {
				sections[cur] = map[string]string{}
			}
		case strings.Contains(line, "="):
			k, v, _ := strings.Cut(line, "=")
			k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), "\"")
			s := sections[cur]
			if _, dup := s[k]; !dup {
				s[orderKey] += k + "\n"
			}
			s[k] = v
		}
	}
	return sections, sc.Err()
}

func sectionOrder(sections map[string]map[string]string, name string) [][2]string {
	s := sections[name]
	var out [][2]string
	for _, k := range strings.Split(strings.TrimSuffix(s[orderKey], "\n"), "\n") {
		if k != "" {
			out = append(out, [2]string{k, s[k]})
		}
	}
	return out
}

type limitedReader struct {
	f    *os.File
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("OpenSSL configuration file larger than 1 MiB")
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.f.Read(p)
	l.left -= int64(n)
	return n, err
}

// bound removes from vs the versions outside the OpenSSL configuration's
// MinProtocol and MaxProtocol.
func (o Options) bound(vs versionSet) versionSet {
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		if (o.MinVersion != 0 && v < o.MinVersion) || (o.MaxVersion != 0 && v > o.MaxVersion) {
			vs &^= 1 << (v - tls.VersionTLS10)
		}
	}
	return vs
}
