package tlspolicy

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"tlsproxy/internal/logs"
)

// Key-exchange groups: tls_eecdh_auto_curves and tls_ffdhe_auto_groups,
// read as the installed Postfix release reads them, mapped onto the groups
// Go's crypto/tls has. Go uses CurvePreferences as a set (it orders groups
// by its own rules, post-quantum hybrids first), so only membership
// matters here; the order is kept for the report.

// GroupSettings are the two group lists and how to read them.
type GroupSettings struct {
	// EECDH and FFDHE are the expanded parameter values.
	EECDH, FFDHE string
	// EECDHSet and FFDHESet say whether main.cf (or -o) sets them. An
	// unset list is replaced by Postfix 3.11's default, whatever the
	// installed release: "?X25519MLKEM768:DEFAULT" and an empty FFDHE list.
	EECDHSet, FFDHESet bool
	// DefaultEECDH and DefaultFFDHE are the installed release's defaults
	// ("postconf -d"), which Postfix compares the lists with before it
	// falls back to its own defaults.
	DefaultEECDH, DefaultFFDHE string
	// Series is the installed release as major*100+minor (307 for 3.7).
	Series int
	// ConfigGroups is the Groups setting of tls_config_file, used when
	// both lists are empty (then OpenSSL's configuration decides).
	ConfigGroups string
}

// pqDefault is Postfix 3.11's default list with OpenSSL 3.5 or later.
const pqDefault = "?X25519MLKEM768:DEFAULT"

// groupInfo is what one OpenSSL group name means here.
type groupInfo struct {
	id    tls.CurveID // 0: known to OpenSSL, not to Go crypto/tls
	name  string      // canonical OpenSSL name
	ffdhe bool
}

// openSSLGroups maps lower-case OpenSSL group names (short names, NIST
// names and aliases) to Go's CurveIDs. Names that OpenSSL 3.5 knows but
// Go does not have have id 0.
var openSSLGroups = func() map[string]groupInfo {
	m := map[string]groupInfo{}
	add := func(id tls.CurveID, canonical string, aliases ...string) {
		for _, a := range append([]string{canonical}, aliases...) {
			m[strings.ToLower(a)] = groupInfo{id: id, name: canonical}
		}
	}
	add(tls.X25519, "X25519")
	add(tls.CurveP256, "prime256v1", "secp256r1", "P-256")
	add(tls.CurveP384, "secp384r1", "P-384")
	add(tls.CurveP521, "secp521r1", "P-521")
	add(tls.X25519MLKEM768, "X25519MLKEM768")
	add(tls.SecP256r1MLKEM768, "SecP256r1MLKEM768")
	add(tls.SecP384r1MLKEM1024, "SecP384r1MLKEM1024")
	add(0, "X448")
	for _, n := range []string{"X448MLKEM1024", "MLKEM512", "MLKEM768", "MLKEM1024",
		"brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1",
		"brainpoolP256r1tls13", "brainpoolP384r1tls13", "brainpoolP512r1tls13",
		"secp160k1", "secp160r1", "secp160r2", "secp192k1", "prime192v1", "secp224k1",
		"secp224r1", "secp256k1", "sect163k1", "sect163r1", "sect163r2", "sect193r1",
		"sect193r2", "sect233k1", "sect233r1", "sect239k1", "sect283k1", "sect283r1",
		"sect409k1", "sect409r1", "sect571k1", "sect571r1"} {
		add(0, n)
	}
	for _, n := range []string{"ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"} {
		m[n] = groupInfo{name: n, ffdhe: true}
	}
	return m
}()

// openSSLDefault is OpenSSL 3.5's DEFAULT group list as far as Go has
// it (OpenSSL's also has X448 and the FFDHE groups).
var openSSLDefault = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// GroupChoice is the outcome: the groups offered and how they came about.
type GroupChoice struct {
	Curves []tls.CurveID // never empty
	Source string        // for the report
	// Ignored lists what the lists ask for and Go cannot do.
	Ignored []string
}

// KeyExchangeGroups reads the lists as Postfix does (tls_dh.c of the
// installed release): names the release does not know are reported as
// that release reports them, an empty or useless list falls back to the
// Postfix default, then to the OpenSSL default, with the release's
// warnings. Groups that OpenSSL has and Go does not (X448, FFDHE, …) are
// warned about as impossible here, once each, when a list set in main.cf
// names them.
func KeyExchangeGroups(s GroupSettings, log logs.Logger) GroupChoice {
	log = logs.OrDiscard(log)
	var ch GroupChoice
	eecdh, ffdhe := s.EECDH, s.FFDHE
	eecdhRules, ffdheRules := s.Series, s.Series
	if !s.EECDHSet {
		eecdh, eecdhRules = pqDefault, 311
	}
	if !s.FFDHESet || s.Series < 308 {
		// 3.7 has no FFDHE list; an unset one is 3.11's empty list.
		ffdhe = ""
	}
	if !s.EECDHSet && !s.FFDHESet {
		ch.Curves, ch.Source = groupSet(pqDefault, 311, nil, nil), "Postfix 3.11 default "+pqDefault
		return ch
	}
	impossible := map[string]bool{}
	note := func(param, name string) {
		key := strings.ToLower(name)
		if impossible[key] {
			return
		}
		impossible[key] = true
		msg := fmt.Sprintf("%s: key exchange group \"%s\" is not supported by this implementation (Go crypto/tls): ignored", param, name)
		ch.Ignored = append(ch.Ignored, msg)
		log.Warnf("%s", msg)
	}

	if strings.TrimSpace(eecdh) == "" && strings.TrimSpace(ffdhe) == "" {
		// Both empty: OpenSSL's defaults, or its configuration.
		if s.ConfigGroups != "" {
			if c := groupSet(s.ConfigGroups, 311, nil, func(n string) { note("tls_config_file Groups", n) }); len(c) > 0 {
				ch.Curves, ch.Source = c, "tls_config_file Groups = "+s.ConfigGroups
				return ch
			}
		}
		ch.Curves, ch.Source = slices.Clone(openSSLDefault), "OpenSSL default (DEFAULT)"
		return ch
	}

	if s.Series < 308 {
		// 3.7: unknown names are warned about; a list without any usable
		// group leaves OpenSSL's defaults in place.
		unsupported := 0
		var c []tls.CurveID
		for _, tok := range strings.FieldsFunc(eecdh, isCommaSpace) {
			g, ok := lookupGroup(tok, true)
			switch {
			case !ok:
				log.Warnf("ignoring unknown ECDHE curve \"%s\"", tok)
			case g.id == 0:
				unsupported++
				note("tls_eecdh_auto_curves", tok)
			case !slices.Contains(c, g.id):
				c = append(c, g.id)
			}
		}
		if len(c) == 0 {
			if unsupported > 0 {
				log.Warnf("none of the configured ECDHE curves are supported")
			}
			ch.Curves, ch.Source = slices.Clone(openSSLDefault), "OpenSSL default (DEFAULT)"
			return ch
		}
		ch.Curves, ch.Source = c, "tls_eecdh_auto_curves"
		return ch
	}

	// 3.8 and later: both lists, one attempt with the configured lists,
	// then with Postfix's defaults, then OpenSSL's.
	origin := "configured"
	var c []tls.CurveID
	if strings.TrimSpace(eecdh+" "+ffdhe) == "" {
		log.Warnf("no %s key exchange group - OpenSSL requires at least one", origin)
	} else {
		unknown := func(n string) {
			if s.Series < 310 { // 3.10 lets OpenSSL judge names, silently
				log.Warnf("ignoring unknown key exchange group \"%s\"", n)
			}
		}
		c = groupSet(eecdh, eecdhRules, unknown, func(n string) { note("tls_eecdh_auto_curves", n) })
		c = appendNew(c, groupSet(ffdhe, ffdheRules, unknown, func(n string) { note("tls_ffdhe_auto_groups", n) }))
		if len(c) == 0 {
			log.Warnf("none of the %s key exchange groups are supported", origin)
		}
	}
	if len(c) > 0 {
		ch.Curves, ch.Source = c, "tls_eecdh_auto_curves, tls_ffdhe_auto_groups"
		return ch
	}
	if s.EECDH != s.DefaultEECDH || s.FFDHE != s.DefaultFFDHE {
		log.Warnf("using Postfix default key exchange groups instead")
		ch.Curves, ch.Source = groupSet(pqDefault, 311, nil, nil), "Postfix 3.11 default "+pqDefault
		return ch
	}
	log.Warnf("using OpenSSL default key exchange groups instead")
	ch.Curves, ch.Source = slices.Clone(openSSLDefault), "OpenSSL default (DEFAULT)"
	return ch
}

func isCommaSpace(r rune) bool {
	return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
}

// lookupGroup finds a group name. exact: the 3.7 – 3.9 way (OpenSSL's
// short or NIST names, case as OpenSSL spells them; the post-quantum
// names, which those releases' OpenSSL did not have, in any case).
func lookupGroup(name string, exact bool) (groupInfo, bool) {
	g, ok := openSSLGroups[strings.ToLower(name)]
	if !ok || !exact || g.id == tls.X25519MLKEM768 || g.id == tls.SecP256r1MLKEM768 || g.id == tls.SecP384r1MLKEM1024 {
		return g, ok
	}
	if name == g.name || name == "P-256" || name == "P-384" || name == "P-521" {
		return g, true
	}
	return groupInfo{}, false
}

// groupSet evaluates one list with the rules of release series (307 …
// 311+) and returns the Go groups it selects, in order. Up to 3.9 each
// token is one name; from 3.10 a token is handed to OpenSSL as a group
// list (OpenSSL 3.5 syntax: "?name" optional, "*name" key share, "-name"
// removed, DEFAULT, "/" between tuples) and dropped whole when OpenSSL
// would refuse it; 3.11 also splits tokens at ':'. unknown receives names
// a release warns about (nil: none), impossible names Go cannot do.
func groupSet(list string, series int, unknown, impossible func(string)) []tls.CurveID {
	sep := isCommaSpace
	if series >= 311 {
		sep = func(r rune) bool { return isCommaSpace(r) || r == ':' }
	}
	var out []tls.CurveID
	for _, tok := range strings.FieldsFunc(list, sep) {
		if series < 310 {
			g, ok := lookupGroup(tok, true)
			switch {
			case !ok:
				if unknown != nil {
					unknown(tok)
				}
			case g.id == 0:
				if impossible != nil {
					impossible(tok)
				}
			default:
				out = appendNew(out, []tls.CurveID{g.id})
			}
			continue
		}
		out = applyGroupList(out, tok, impossible)
	}
	return out
}

// applyGroupList applies one OpenSSL 3.5 group list to out; a list with
// an unknown name that is not marked optional changes nothing.
func applyGroupList(out []tls.CurveID, list string, impossible func(string)) []tls.CurveID {
	next := slices.Clone(out)
	var skipped []string
	for _, el := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == '/' }) {
		optional, remove := false, false
		for len(el) > 0 && strings.ContainsRune("?*-", rune(el[0])) {
			switch el[0] {
			case '?':
				optional = true
			case '-':
				remove = true
			}
			el = el[1:]
		}
		if el == "" {
			return out
		}
		var ids []tls.CurveID
		if strings.EqualFold(el, "DEFAULT") {
			ids = openSSLDefault
		} else {
			g, ok := openSSLGroups[strings.ToLower(el)]
			switch {
			case !ok && optional:
				continue
			case !ok:
				return out // OpenSSL refuses the whole list
			case g.id == 0:
				if !remove {
					skipped = append(skipped, el)
				}
				continue
			}
			ids = []tls.CurveID{g.id}
		}
		if remove {
			next = slices.DeleteFunc(next, func(id tls.CurveID) bool { return slices.Contains(ids, id) })
		} else {
			next = appendNew(next, ids)
		}
	}
	if impossible != nil {
		for _, n := range skipped {
			impossible(n)
		}
	}
	return next
}

func appendNew(out, ids []tls.CurveID) []tls.CurveID {
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// GroupName is the OpenSSL name of a Go group, for reports and logs.
func GroupName(id tls.CurveID) string {
	switch id {
	case tls.X25519:
		return "X25519"
	case tls.CurveP256:
		return "prime256v1"
	case tls.CurveP384:
		return "secp384r1"
	case tls.CurveP521:
		return "secp521r1"
	}
	return id.String()
}

// DescribeGroups is the report's line about the key-exchange groups.
func DescribeGroups(o Options) string {
	names := make([]string, 0, len(o.Curves))
	pq := false
	for _, id := range o.Curves {
		names = append(names, GroupName(id))
		pq = pq || isPQ(id)
	}
	s := strings.Join(names, " ") + " (" + o.GroupSource + ")"
	if pq {
		s += "; post-quantum hybrid key exchange, which Postfix's C tlsproxy offers only from 3.11 on" +
			" with OpenSSL 3.5 or later (not with Debian 12's OpenSSL 3.0)"
	}
	return s
}

func isPQ(id tls.CurveID) bool {
	return id == tls.X25519MLKEM768 || id == tls.SecP256r1MLKEM768 || id == tls.SecP384r1MLKEM1024
}
