package tlspolicy

// Postfix protocol lists (docs/configuration.md, "Protocol lists"):
// tokens separated by space, comma or colon; "NAME" includes, "!NAME"
// excludes, ">=V" and "<=V" set bounds (V a name, "None", or a hex
// number). Names are case-sensitive, as OpenSSL spells them. When any name
// is included, every known protocol that is not included is excluded.

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
)

// versionSet is a set of TLS versions Go can speak: bit i = TLS 1.i.
type versionSet uint8

const allGoVersions versionSet = 0x0f

func (s versionSet) has(v uint16) bool {
	return v >= tls.VersionTLS10 && v <= tls.VersionTLS13 && s&(1<<(v-tls.VersionTLS10)) != 0
}

// bounds returns the lowest and highest version in s (s must be non-empty).
func (s versionSet) bounds() (lo, hi uint16) {
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		if s.has(v) {
			if lo == 0 {
				lo = v
			}
			hi = v
		}
	}
	return lo, hi
}

// hasHoles reports whether s is not one contiguous range.
func (s versionSet) hasHoles() bool {
	lo, hi := s.bounds()
	for v := lo; v <= hi; v++ {
		if !s.has(v) {
			return true
		}
	}
	return false
}

// knownProtocols are the names accepted as include/exclude tokens, with
// their wire versions (SSLv2 is 0x0002 as in OpenSSL).
var knownProtocols = []struct {
	name    string
	version uint16
}{
	{"SSLv2", 0x0002},
	{"SSLv3", 0x0300},
	{"TLSv1", tls.VersionTLS10},
	{"TLSv1.1", tls.VersionTLS11},
	{"TLSv1.2", tls.VersionTLS12},
	{"TLSv1.3", tls.VersionTLS13},
}

// boundNames are the names accepted after ">=" and "<=" (0 = no bound).
var boundNames = map[string]uint16{
	"None":    0,
	"SSLv3":   0x0300,
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// ProtocolError reports an invalid protocol list (Token set) or a list that
// leaves no protocol version Go can speak (Token empty).
type ProtocolError struct {
	List  string
	Token string
}

func (e *ProtocolError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("TLS protocol list %q leaves no supported protocol version (TLSv1 to TLSv1.3)", e.List)
	}
	return fmt.Sprintf("invalid TLS protocol list %q: bad token %q", e.List, e.Token)
}

// ParseProtocols parses a Postfix protocol list and returns the lowest and
// highest TLS version Go may negotiate. SSLv2 and SSLv3 are silently
// unavailable. Versions excluded between min and max (holes) are not
// visible here; [NewServer] enforces them.
func ParseProtocols(s string) (min, max uint16, err error) {
	set, err := parseProtocolSet(s)
	if err != nil {
		return 0, 0, err
	}
	min, max = set.bounds()
	return min, max, nil
}

func isProtocolSep(r rune) bool {
	return r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == ',' || r == ':'
}

// parseProtocolSet implements the list semantics and intersects the result
// with what Go supports.
func parseProtocolSet(list string) (versionSet, error) {
	var (
		include, exclude = map[uint16]bool{}, map[uint16]bool{}
		floor, ceiling   uint16
	)
	for _, tok := range strings.FieldsFunc(list, isProtocolSep) {
		var ok bool
		switch {
		case strings.HasPrefix(tok, ">="):
			floor, ok = parseBound(tok[2:])
		case strings.HasPrefix(tok, "<="):
			ceiling, ok = parseBound(tok[2:])
		case strings.HasPrefix(tok, "!"):
			var v uint16
			if v, ok = protocolByName(tok[1:]); ok {
				exclude[v] = true
			}
		default:
			var v uint16
			if v, ok = protocolByName(tok); ok {
				include[v] = true
			}
		}
		if !ok {
			return 0, &ProtocolError{List: list, Token: tok}
		}
	}
	// OpenSSL refuses bounds it does not know (Postfix then only warns);
	// such a bound has no effect.
	if !isKnownBound(floor) {
		floor = 0
	}
	if !isKnownBound(ceiling) {
		ceiling = 0
	}
	var set versionSet
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		switch {
		case floor != 0 && v < floor, ceiling != 0 && v > ceiling:
		case exclude[v], len(include) > 0 && !include[v]:
		default:
			set |= 1 << (v - tls.VersionTLS10)
		}
	}
	if set == 0 {
		return 0, &ProtocolError{List: list}
	}
	return set, nil
}

func protocolByName(name string) (uint16, bool) {
	for _, p := range knownProtocols {
		if p.name == name {
			return p.version, true
		}
	}
	return 0, false
}

// parseBound accepts a bound name or a hexadecimal version with an optional
// "0x"/"0X" prefix; like strtoul, an empty value means 0 (no bound).
func parseBound(s string) (uint16, bool) {
	if v, ok := boundNames[s]; ok {
		return v, true
	}
	digits := s
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		digits = digits[2:]
	}
	if digits == "" {
		return 0, s == ""
	}
	n, err := strconv.ParseUint(digits, 16, 64)
	if err != nil || n > 0x7fffffff {
		return 0, false
	}
	if n > 0xffff {
		return 0xffff, true // far beyond any known version: ignored later
	}
	return uint16(n), true
}

func isKnownBound(v uint16) bool {
	return v == 0 || (v >= 0x0300 && v <= tls.VersionTLS13)
}
