package tlsclient

// Peer name checks: the match patterns smtp(8) sends (hostname, nexthop,
// dot-nexthop, literal names, ".domain" for subdomains) and the certificate
// name rules OpenSSL applies for Postfix (X509_check_host with partial
// wildcards disabled): DNS subjectAltNames, or the subject CNs when there
// are none; "*" only as a whole left-most label of a name with at least
// two dots; a reference starting with "." matches any name below it.

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net"
	"slices"
	"strings"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlspolicy"
)

// refName is one reference identifier; sub means "any subdomain of name".
type refName struct {
	name string
	sub  bool
}

// String is the name as OpenSSL holds it (".example.com" for subdomains).
func (r refName) String() string {
	if r.sub {
		return "." + r.name
	}
	return r.name
}

// expandPatterns turns match patterns into reference names. Invalid
// patterns are reported through log (Postfix wording, prefixed by the
// caller). The count includes empty names, which OpenSSL accepts without
// checking anything.
func expandPatterns(patterns []string, nexthop, host string, log logs.Logger) (refs []refName, count int) {
	for _, p := range patterns {
		var r refName
		switch {
		case strings.EqualFold(p, "nexthop"):
			r = refName{name: nexthop}
		case strings.EqualFold(p, "dot-nexthop"):
			r = refName{name: nexthop, sub: true}
		case strings.EqualFold(p, "hostname"):
			r = refName{name: host}
		case p == ".":
			log.Warnf(`ignoring invalid match name: "."`)
			continue
		case strings.HasPrefix(p, "."):
			r = refName{name: p[1:], sub: true}
		default:
			r = refName{name: p}
		}
		count++
		if r.name != "" {
			refs = append(refs, r)
		}
	}
	return refs, count
}

// certNames returns the names a certificate is checked against: its DNS
// subjectAltNames, or, without any, every subject CN.
func certNames(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	var cns []string
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidCN) {
			if s, ok := n.Value.(string); ok {
				cns = append(cns, s)
			}
		}
	}
	return cns
}

// matchPeer returns the first certificate name that matches one of refs.
// As OpenSSL's SSL_add1_host (which Postfix calls for each name) does, a
// reference that is an IP address literal is no host name: it becomes the
// IP check (OpenSSL keeps only the first), met by an iPAddress
// subjectAltName only, and the matched name is then "". Host names and the
// IP check must both hold where both exist (OpenSSL reports the host name
// first: errHostnameMismatch, else errIPMismatch). code is 0 on a match.
func matchPeer(c *x509.Certificate, refs []refName, multi bool) (name string, code int) {
	var hosts []refName
	var ip net.IP
	for _, r := range refs {
		if a := net.ParseIP(r.name); a != nil && !r.sub {
			if ip == nil {
				ip = a
			}
			continue
		}
		hosts = append(hosts, r)
	}
	if len(hosts) > 0 {
		name = matchHost(certNames(c), hosts, multi)
		if name == "" {
			return "", errHostnameMismatch
		}
	}
	if ip != nil && !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
		return "", errIPMismatch
	}
	return name, 0
}

// matchHost returns the first certificate name that matches one of refs,
// "" if none.
func matchHost(names []string, refs []refName, multi bool) string {
	for _, r := range refs {
		for _, n := range names {
			if nameMatches(n, r, multi) {
				return n
			}
		}
	}
	return ""
}

// nameMatches compares one certificate name (pattern) with a reference.
func nameMatches(pattern string, r refName, multi bool) bool {
	if strings.IndexByte(pattern, 0) >= 0 || r.name == "" {
		return false
	}
	p, ref := asciiLower(pattern), asciiLower(r.String())
	if r.sub {
		// Any certificate name (wildcard or not) that ends in ".name"
		// and has something before it.
		return len(ref) > 1 && len(p) > len(ref) && strings.HasSuffix(p, ref)
	}
	if p == ref {
		return true
	}
	suffix, ok := wildcardSuffix(p)
	if !ok || len(ref) <= len(suffix) || !strings.HasSuffix(ref, suffix) {
		return false
	}
	for _, ch := range ref[:len(ref)-len(suffix)] {
		if !isLDH(ch) && !(multi && ch == '.') {
			return false
		}
	}
	return true
}

// wildcardSuffix returns ".rest" for a valid wildcard name "*.rest": the
// star is the whole first label, at least two dots, letters, digits and
// hyphens only, no empty labels.
func wildcardSuffix(p string) (string, bool) {
	if !strings.HasPrefix(p, "*.") || strings.Count(p, ".") < 2 {
		return "", false
	}
	rest := p[1:]
	for _, label := range strings.Split(rest[1:], ".") {
		if label == "" {
			return "", false
		}
		for _, ch := range label {
			if !isLDH(ch) {
				return "", false
			}
		}
	}
	return rest, true
}

// asciiLower lowers ASCII letters only, as OpenSSL's name comparison does.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func isLDH(ch rune) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-'
}

var oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}

// oneline renders a distinguished name the way Postfix logs it (OpenSSL's
// X509_NAME_oneline, then non-printable characters as '?', at most 255
// characters): "/C=DE/O=Example/CN=Example CA".
func oneline(c *x509.Certificate, issuer bool) string {
	names := c.Subject.Names
	if issuer {
		names = c.Issuer.Names
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "/%s=%v", tlspolicy.ShortName(n.Type), n.Value)
	}
	out := []byte(b.String())
	for i, ch := range out {
		if ch < 0x20 || ch >= 0x7f {
			out[i] = '?'
		}
	}
	if len(out) > 255 {
		out = out[:255]
	}
	return string(out)
}
