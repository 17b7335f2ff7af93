package pfclient

import (
	"crypto/sha256"
	"strconv"
	"strings"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlspolicy"
)

// The second list is three inline structures, "params" (TLS_*_PARAMS),
// "init" (TLS_*_INIT_PROPS) and "start" (TLS_*_START_PROPS), concatenated
// without framing. Each is built here from a per-version list of names
// and a table of default values; the counts per version are those of
// docs/protocol.md, "Structure revisions".
//
// Defaults are postconf -d values of the release (with security level
// "may" for smtp), except where a capture in the spec shows otherwise.
// Choices of this package, not Postfix facts: the postscreen/smtpd
// certificate paths are Debian's snakeoil pair; cipher lists of 3.8+ are
// the ones captured with OpenSSL 3.0; smtp's start "serverid" follows the
// spec's example "smtp&nexthop&host&addr&".

// part is one inline structure of the second list.
type part struct {
	name  string // "params", "init" or "start"
	items []item
}

// item is one attribute; scalar ones may be overridden by Request.Props.
type item struct {
	attr.Attr
	scalar bool
}

// scalars makes scalar items of names, taking each value from vals; a
// name missing from vals is a bug in this package's tables.
func scalars(vals map[string]string, names ...string) []item {
	items := make([]item, len(names))
	for i, n := range names {
		v, ok := vals[n]
		if !ok {
			panic("pfclient: no default for " + n) // table error, caught by the tests
		}
		items[i] = item{attr.Str(n, v), true}
	}
	return items
}

// fixed makes a structural (not overridable) item.
func fixed(a attr.Attr) item { return item{a, false} }

// series is Major*100+Minor.
func series(v pfversion.Version) int { return v.Major*100 + v.Minor }

// from reports v >= major.minor.patch for v of that series (a snapshot of
// the series counts as later than any patch), true for later series.
func from(v pfversion.Version, major, minor, patch int) bool {
	s := major*100 + minor
	if series(v) != s {
		return series(v) > s
	}
	return v.Snapshot != 0 || v.Patch >= patch
}

// since312 reports whether v is a 3.12 snapshot of day or later, a 3.12
// release or a later series.
func since312(v pfversion.Version, day int) bool {
	if series(v) != 312 {
		return series(v) > 312
	}
	return v.Snapshot == 0 || v.Snapshot >= day
}

// Client TLS_CLIENT_PARAMS names: the 3.4 – 3.7 list (18) and the 3.8 one
// (17: low/export cipher lists gone, ffdhe groups added).
var (
	clientParams34 = []string{"tls_high_cipherlist", "tls_medium_cipherlist", "tls_low_cipherlist",
		"tls_export_cipherlist", "tls_null_cipherlist", "tls_eecdh_auto_curves",
		"tls_eecdh_strong_curve", "tls_eecdh_ultra_curve", "tls_disable_workarounds",
		"tls_ssl_options", "tls_dane_digests", "tlsmgr_service_name", "tls_session_ticket_cipher",
		"tls_daemon_random_bytes", "tls_append_default_CA", "tls_legacy_public_key_fingerprints",
		"tls_preempt_cipherlist", "tls_wildcard_matches_multiple_labels"}
	clientParams38 = []string{"tls_high_cipherlist", "tls_medium_cipherlist", "tls_null_cipherlist",
		"tls_eecdh_auto_curves", "tls_eecdh_strong_curve", "tls_eecdh_ultra_curve",
		"tls_ffdhe_auto_groups", "tls_disable_workarounds", "tls_ssl_options", "tls_dane_digests",
		"tlsmgr_service_name", "tls_session_ticket_cipher", "tls_daemon_random_bytes",
		"tls_append_default_CA", "tls_legacy_public_key_fingerprints", "tls_preempt_cipherlist",
		"tls_wildcard_matches_multiple_labels"}
	serverParams = []string{"config_file", "config_name", "tls_high_cipherlist",
		"tls_medium_cipherlist", "tls_null_cipherlist", "tls_eecdh_auto_curves",
		"tls_eecdh_strong_curve", "tls_eecdh_ultra_curve", "tls_ffdhe_auto_groups",
		"tls_disable_workarounds", "tls_ssl_options", "tlsmgr_service_name",
		"tls_session_ticket_cipher", "tls_daemon_random_bytes", "tls_append_default_CA",
		"tls_preempt_cipherlist", "tls_wildcard_matches_multiple_labels", "tls_server_sni_maps",
		"tls_fast_shutdown_enable", "tls_trust_server_ccerts"}
	clientInit = []string{"log_param", "log_level", "verifydepth", "cache_type", "chain_files",
		"cert_file", "key_file", "dcert_file", "dkey_file", "eccert_file", "eckey_file",
		"CAfile", "CApath", "mdalg"}
	serverInit = []string{"log_param", "log_level", "verifydepth", "cache_type", "set_sessid",
		"chain_files", "cert_file", "key_file", "dcert_file", "dkey_file", "eccert_file",
		"eckey_file", "CAfile", "CApath", "protocols", "eecdh_grade", "dh1024_param_file",
		"dh512_param_file", "ask_ccert", "mdalg"}
)

// clientParamNames returns the TLS_CLIENT_PARAMS names of v (§4.1, §8.2).
func clientParamNames(v pfversion.Version) []string {
	var names []string
	config := false
	switch s := series(v); {
	case s <= 307:
		names = clientParams34
		config = from(v, 3, 5, 20) && (s != 306 || from(v, 3, 6, 10)) && (s != 307 || from(v, 3, 7, 6))
	default:
		names = clientParams38
		config = from(v, 3, 8, 1)
		// 3.11 dropped tls_legacy_public_key_fingerprints; the 3.12
		// snapshots only on 20260131.
		if s == 311 || since312(v, 20260131) {
			names = without(names, "tls_legacy_public_key_fingerprints")
		}
		if since312(v, 20260410) {
			names = append(names[:len(names):len(names)], "tls_fast_shutdown_enable")
		}
	}
	if config {
		names = append([]string{"config_file", "config_name"}, names...)
	}
	return names
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// paramDefaults are the main.cf defaults of the global tls_* parameters:
// the 3.7 values (§4.4 capture) up to 3.7, the OpenSSL 3.0 values captured
// with 3.11.6 and 3.12 (§8.6, §8.7.2) from 3.8 on.
func paramDefaults(v pfversion.Version) map[string]string {
	d := map[string]string{
		"config_file":                          "default",
		"config_name":                          "",
		"tls_high_cipherlist":                  "aNULL:-aNULL:HIGH:@STRENGTH",
		"tls_medium_cipherlist":                "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
		"tls_low_cipherlist":                   "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH",
		"tls_export_cipherlist":                "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
		"tls_null_cipherlist":                  "eNULL:!aNULL",
		"tls_eecdh_auto_curves":                "X25519 X448 prime256v1 secp521r1 secp384r1",
		"tls_eecdh_strong_curve":               "prime256v1",
		"tls_eecdh_ultra_curve":                "secp384r1",
		"tls_disable_workarounds":              "",
		"tls_ssl_options":                      "",
		"tls_dane_digests":                     "sha512 sha256",
		"tlsmgr_service_name":                  "tlsmgr",
		"tls_session_ticket_cipher":            "aes-256-cbc",
		"tls_daemon_random_bytes":              "32",
		"tls_append_default_CA":                "0",
		"tls_legacy_public_key_fingerprints":   "0",
		"tls_preempt_cipherlist":               "0",
		"tls_wildcard_matches_multiple_labels": "1",
		"tls_fast_shutdown_enable":             "1",
		"tls_server_sni_maps":                  "",
		"tls_trust_server_ccerts":              "0",
	}
	if series(v) >= 308 {
		const excl = "!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5"
		d["tls_high_cipherlist"] = "aNULL:-aNULL:HIGH:" + excl + ":@STRENGTH"
		d["tls_medium_cipherlist"] = "aNULL:-aNULL:HIGH:MEDIUM:" + excl + ":+RC4:@STRENGTH"
		d["tls_null_cipherlist"] = "eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL"
		d["tls_eecdh_auto_curves"] = "X25519 X448 prime256v1 secp384r1 secp521r1 "
		d["tls_ffdhe_auto_groups"] = "ffdhe2048 ffdhe3072 "
	}
	return d
}

// clientParts builds TLS_CLIENT_PARAMS, TLS_CLIENT_INIT_PROPS and
// TLS_CLIENT_START_PROPS for smtp(8) or posttls-finger.
func (r Request) clientParts() []part {
	v := r.Version
	finger := r.program() == ProgFinger
	ip := endpointIP(r.Endpoint)
	namaddr := r.NamAddr
	if namaddr == "" {
		port := strings.TrimPrefix(r.Endpoint, "["+ip+"]")
		namaddr = ip + "[" + ip + "]" + port
	}
	host := namaddrHost(namaddr)

	mdalg := "sha256" // smtp_tls_fingerprint_digest at compatibility level 3.6+
	protocols := ">=TLSv1"
	if series(v) < 306 {
		mdalg, protocols = "md5", "!SSLv2, !SSLv3"
	}
	vals := map[string]string{
		"log_param": "smtp_tls_loglevel", "log_level": "0", "verifydepth": "9",
		"cache_type": "smtp", "chain_files": "", "cert_file": "", "key_file": "",
		"dcert_file": "", "dkey_file": "", "eccert_file": "", "eckey_file": "",
		"CAfile": "", "CApath": "", "mdalg": mdalg,

		"timeout": strconv.Itoa(r.HandshakeTimeout), "enable_rpk": "0", "tls_level": "1",
		"nexthop": host, "host": host, "namaddr": namaddr, "sni": "",
		"serverid": "smtp&" + host + "&" + host + "&" + ip + "&", "helo": host,
		"protocols": protocols, "cipher_grade": "medium", "cipher_exclusions": "eNULL",
		"forced_failure_type": "", "trace_size_limit": "102400", "trace_peer": ip,
	}
	if finger {
		vals["log_param"], vals["log_level"] = "-L option", "routine,certmatch"
		vals["serverid"] = r.Endpoint
		vals["trace_size_limit"] = "2147483647"
	}

	params := part{"params", scalars(paramDefaults(v), clientParamNames(v)...)}
	init := part{"init", scalars(vals, clientInit...)}

	start := part{name: "start"}
	add := func(names ...string) { start.items = append(start.items, scalars(vals, names...)...) }
	if since312(v, 20260429) {
		add("log_param", "log_level")
	}
	add("timeout")
	if series(v) >= 309 {
		add("enable_rpk")
	}
	add("tls_level", "nexthop", "host", "namaddr", "sni", "serverid", "helo", "protocols",
		"cipher_grade", "cipher_exclusions")
	start.items = appendArgv(start.items, r.MatchNames)
	add("mdalg")
	if series(v) <= 305 {
		start.items = appendOldDANE(start.items, r.DANE, vals["mdalg"])
	} else {
		start.items = appendDANE(start.items, r.DANE)
	}
	if series(v) >= 310 {
		if r.TLSRPT != nil {
			start.items = appendTLSRPT(start.items, r.TLSRPT)
		}
		add("forced_failure_type")
	}
	if since312(v, 20260514) {
		add("trace_size_limit", "trace_peer")
	}
	return []part{params, init, start}
}

// serverParts builds TLS_SERVER_PARAMS, TLS_SERVER_INIT_PROPS and
// TLS_SERVER_START_PROPS as postscreen or smtpd (test mode) of 3.12 send
// them (§8.7.2, §8.7.5).
func (r Request) serverParts() []part {
	v := r.Version
	ip := endpointIP(r.Endpoint)
	logParam, namaddr := "postscreen_tls_loglevel", r.Endpoint
	if r.program() == ProgSMTPD {
		logParam, namaddr = "smtpd_tls_loglevel", r.NamAddr
		if namaddr == "" {
			namaddr = "unknown[" + ip + "]"
		}
	}
	vals := map[string]string{
		"log_param": logParam, "log_level": "0", "verifydepth": "9", "cache_type": "smtpd",
		"set_sessid": "1", "chain_files": "",
		"cert_file":  "/etc/ssl/certs/ssl-cert-snakeoil.pem",
		"key_file":   "/etc/ssl/private/ssl-cert-snakeoil.key",
		"dcert_file": "", "dkey_file": "", "eccert_file": "", "eckey_file": "",
		"CAfile": "", "CApath": "", "protocols": ">=TLSv1", "eecdh_grade": "auto",
		"dh1024_param_file": "", "dh512_param_file": "", "ask_ccert": "0", "mdalg": "sha256",

		"timeout": "300", "enable_rpk": "0", "requirecert": "0", "serverid": r.ServerID,
		"namaddr": namaddr, "cipher_grade": "medium", "cipher_exclusions": "",
		"trace_size_limit": "102400", "trace_peer": ip,
	}
	start := part{name: "start"}
	add := func(names ...string) { start.items = append(start.items, scalars(vals, names...)...) }
	if since312(v, 20260429) {
		add("log_param", "log_level")
	}
	add("timeout", "enable_rpk", "requirecert", "serverid", "namaddr", "cipher_grade",
		"cipher_exclusions", "mdalg")
	if since312(v, 20260514) {
		add("trace_size_limit", "trace_peer")
	}
	return []part{
		{"params", scalars(paramDefaults(v), serverParams...)},
		{"init", scalars(vals, serverInit...)},
		start,
	}
}

// appendArgv appends an ARGV structure: argv_size, then each argv_value.
func appendArgv(items []item, argv []string) []item {
	items = append(items, fixed(attr.Int("argv_size", len(argv))))
	for _, s := range argv {
		items = append(items, fixed(attr.Str("argv_value", s)))
	}
	return items
}

// appendDANE appends the 3.6+ DANE structure: dane 0, or dane 1, domain,
// count and the records.
func appendDANE(items []item, d *DANE) []item {
	if d == nil {
		return append(items, fixed(attr.Int("dane", 0)))
	}
	items = append(items, fixed(attr.Int("dane", 1)), fixed(attr.Str("domain", d.Domain)),
		fixed(attr.Int("count", len(d.Records))))
	for _, t := range d.Records {
		items = append(items, fixed(attr.Int("usage", t.Usage)), fixed(attr.Int("selector", t.Selector)),
			fixed(attr.Int("mtype", t.MType)), fixed(attr.Data("data", t.Data)))
	}
	return items
}

// appendOldDANE appends the 3.4/3.5 DANE structure (§4.3, field names
// only, UNCONFIRMED): dane, then the trust-anchor and end-entity digest
// lists (count, then per digest algorithm: mdalg, ARGV of certificate
// digests, ARGV of public-key digests), the full trust-anchor
// certificates and keys (count, then cert/pkey DATA each), domain, flags
// and exp. The records are converted the way 3.4 filed TLSA data: usages
// 0/2 are trust anchors, 1/3 end entities; digests are uppercase
// colon-separated hex; a full object (mtype 0) is filed by its SHA-256
// digest and, for trust anchors, also as DER. flags and exp are sent as 0
// (this emulator has no DNS cache).
func appendOldDANE(items []item, d *DANE, fpAlg string) []item {
	if d == nil {
		return append(items, fixed(attr.Int("dane", 0)))
	}
	type digests struct {
		mdalg        string
		certs, pkeys []string
	}
	var ta, ee []*digests
	var certs, pkeys [][]byte
	file := func(list *[]*digests, mdalg string, selector int, digest string) {
		var e *digests
		for _, x := range *list {
			if x.mdalg == mdalg {
				e = x
			}
		}
		if e == nil {
			e = &digests{mdalg: mdalg}
			*list = append(*list, e)
		}
		if selector == 1 {
			e.pkeys = append(e.pkeys, digest)
		} else {
			e.certs = append(e.certs, digest)
		}
	}
	for _, t := range d.Records {
		list := &ee
		if t.Usage == 0 || t.Usage == 2 {
			list = &ta
		}
		switch t.MType {
		case 0:
			sum := sha256.Sum256(t.Data)
			file(list, "sha256", t.Selector, tlspolicy.ColonHex(sum[:]))
			if list == &ta && t.Selector == 1 {
				pkeys = append(pkeys, t.Data)
			} else if list == &ta {
				certs = append(certs, t.Data)
			}
		case 1:
			file(list, "sha256", t.Selector, tlspolicy.ColonHex(t.Data))
		case 2:
			file(list, "sha512", t.Selector, tlspolicy.ColonHex(t.Data))
		default:
			file(list, fpAlg, t.Selector, tlspolicy.ColonHex(t.Data))
		}
	}
	items = append(items, fixed(attr.Int("dane", 1)))
	for _, list := range [][]*digests{ta, ee} {
		items = append(items, fixed(attr.Int("count", len(list))))
		for _, e := range list {
			items = append(items, fixed(attr.Str("mdalg", e.mdalg)))
			items = appendArgv(items, e.certs)
			items = appendArgv(items, e.pkeys)
		}
	}
	for _, obj := range []struct {
		name string
		ders [][]byte
	}{{"cert", certs}, {"pkey", pkeys}} {
		items = append(items, fixed(attr.Int("count", len(obj.ders))))
		for _, der := range obj.ders {
			items = append(items, fixed(attr.Data(obj.name, der)))
		}
	}
	return append(items, fixed(attr.Str("domain", d.Domain)), fixed(attr.Int("flags", 0)),
		fixed(attr.Long("exp", 0)))
}

// appendTLSRPT appends the 3.10+ TLSRPT structure (§8.5).
func appendTLSRPT(items []item, t *TLSRPT) []item {
	if !t.Enabled {
		return append(items, fixed(attr.Int("tlsrpt", 0)))
	}
	items = append(items, fixed(attr.Int("tlsrpt", 1)),
		fixed(attr.Str("rpt_socket_name", t.SocketName)),
		fixed(attr.Str("rpt_policy_domain", t.PolicyDomain)),
		fixed(attr.Str("rpt_policy_string", t.PolicyString)),
		fixed(attr.Int("tls_policy_type", t.PolicyType)))
	items = appendArgv(items, t.PolicyStrings)
	items = append(items, fixed(attr.Str("tls_policy_domain", t.TLSPolicyDomain)))
	items = appendArgv(items, t.MXHostPatterns)
	return append(items, fixed(attr.Str("snd_mta_addr", t.SndMTAAddr)),
		fixed(attr.Str("rcv_mta_name", t.RcvMTAName)),
		fixed(attr.Str("rcv_mta_addr", t.RcvMTAAddr)),
		fixed(attr.Str("rcv_mta_ehlo", t.RcvMTAEHLO)),
		fixed(attr.Int("skip_reused_hs", t.SkipReusedHS)),
		fixed(attr.Int("flags", t.Flags)))
}
