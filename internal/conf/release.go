package conf

import "fmt"

// Release is a Postfix release: Major.Minor.Patch, or the snapshot
// Major.Minor-Snapshot (YYYYMMDD, Patch 0).
type Release struct {
	Major, Minor, Patch, Snapshot int
}

// String spells r as mail_version does.
func (r Release) String() string {
	if r.Snapshot != 0 {
		return fmt.Sprintf("%d.%d-%d", r.Major, r.Minor, r.Snapshot)
	}
	return fmt.Sprintf("%d.%d.%d", r.Major, r.Minor, r.Patch)
}

func rel(major, minor, patch int) Release { return Release{Major: major, Minor: minor, Patch: patch} }

// BaseRelease is the Postfix release whose "postconf -d" the Defaults
// table holds.
var BaseRelease = rel(3, 7, 11)

// PQGroupsDefault is Postfix 3.11's tls_eecdh_auto_curves default when it
// is built with OpenSSL 3.5 or later: the X25519MLKEM768 hybrid first,
// then OpenSSL's own default list.
const PQGroupsDefault = "?X25519MLKEM768:DEFAULT"

// SetRelease makes the defaults of c those of Postfix release v (see
// DefaultsFor): parameters that are not set take the value the installed
// release's "postconf -d" shows.
func (c *Config) SetRelease(v Release) {
	d := DefaultsFor(v)
	c.mu.Lock()
	c.defaults, c.release = d, v
	c.mu.Unlock()
}

// Release returns the release whose defaults c uses (BaseRelease unless
// SetRelease said otherwise).
func (c *Config) Release() Release {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.release
}

// Default returns the table entry of name in c's release.
func (c *Config) Default(name string) (Param, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.defaults[name]
	return p, ok
}

// Known reports whether the release of c has a parameter called name.
func (c *Config) Known(name string) bool {
	_, ok := c.Default(name)
	return ok
}

// IsSet reports whether name is set explicitly (main.cf or -o).
func (c *Config) IsSet(name string) bool {
	_, ok := c.Raw(name)
	return ok
}

// Later reports whether v is at least the first release of each series
// listed: fixes lists the first fixed patch release of every maintained
// series, oldest series first (e.g. 3.7.16, 3.8.11, 3.11.0). A
// release of a series older than the first listed is not fixed; one of a
// newer series than the last listed is; one of an unlisted series in
// between counts as the next listed series' first release (not fixed
// unless it is newer). Snapshots count as later than every patch release
// of their series' predecessors.
func Later(v Release, fixes ...Release) bool {
	vs := v.Major*100 + v.Minor
	for _, fv := range fixes {
		fs := fv.Major*100 + fv.Minor
		switch {
		case vs < fs:
			return false
		case vs == fs:
			return v.Snapshot != 0 || v.Patch >= fv.Patch
		}
	}
	return len(fixes) > 0
}

// DefaultsFor returns the defaults table of Postfix release v: Defaults
// (3.7.11) with each change that later releases made to a parameter
// tlsproxy reads, and without the parameters that v does not have. Each
// change is taken from that release's mail_params.h.
func DefaultsFor(v Release) map[string]Param {
	d := make(map[string]Param, len(Defaults)+8)
	for n, p := range Defaults {
		d[n] = p
	}
	set := func(name, def string) {
		p := d[name]
		p.Default = def
		d[name] = p
	}
	set("mail_version", v.String())

	// The obsolete tlsproxy_client_level/_policy names were looked at
	// with ${name:...}, which is empty when the old name is set: setting
	// it turned the client role off. Fixed in 3.7.16, 3.8.11, 3.9.5,
	// 3.10.4 and 3.11.
	if Later(v, rel(3, 7, 16), rel(3, 8, 11), rel(3, 9, 5), rel(3, 10, 4)) {
		set("tlsproxy_client_security_level", "${tlsproxy_client_level?{$tlsproxy_client_level}:{$smtp_tls_security_level}}")
		set("tlsproxy_client_policy_maps", "${tlsproxy_client_policy?{$tlsproxy_client_policy}:{$smtp_tls_policy_maps}}")
	}
	if Later(v, rel(3, 8, 0)) {
		// Cipher lists exclude weak algorithms; the low and export
		// grades mean medium and their lists are ignored.
		const excl = ":!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5"
		set("tls_high_cipherlist", "aNULL:-aNULL:HIGH"+excl+":@STRENGTH")
		set("tls_medium_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM"+excl+":+RC4:@STRENGTH")
		set("tls_null_cipherlist", "eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL")
		d["tls_low_cipherlist"] = str("")
		d["tls_export_cipherlist"] = str("")
		d["tls_ffdhe_auto_groups"] = str("ffdhe2048 ffdhe3072 ")
	}
	if Later(v, rel(3, 9, 0)) {
		d["smtpd_tls_enable_rpk"] = boolean("no")
		d["tlsproxy_tls_enable_rpk"] = boolean("$smtpd_tls_enable_rpk")
	}
	if Later(v, rel(3, 10, 0)) {
		set("tls_eecdh_auto_curves", "X25519 X448 prime256v1 secp384r1 secp521r1 ")
	}
	if Later(v, rel(3, 11, 0)) {
		// Built with OpenSSL 3.5 or later (what the post-quantum
		// default needs); the tls_legacy_public_key_fingerprints and
		// tls_eecdh_* grade curves are gone, smtp(8) does
		// opportunistic TLS from compatibility level 3.11.
		set("tls_eecdh_auto_curves", PQGroupsDefault)
		set("tls_ffdhe_auto_groups", "")
		delete(d, "tls_legacy_public_key_fingerprints")
		set("smtp_tls_security_level", "${{$compatibility_level} <level {3.11} ? {} : {may}}")
	}
	if v.Major == 3 && v.Minor >= 12 || v.Major > 3 {
		d["tls_trust_server_ccerts"] = boolean("no")
	}
	return d
}

// DefaultValue returns the expanded default of name in c's release, as
// if main.cf did not set it (other settings still apply inside it).
func (c *Config) DefaultValue(name string) (string, error) {
	c.mu.RLock()
	e := &expander{c: c}
	v, err := e.eval(c.defaults[name].Default)
	c.mu.RUnlock()
	e.flush()
	return v, err
}
