package tlsclient

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"reflect"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
)

func TestNameMatches(t *testing.T) {
	tests := []struct {
		pattern, ref string
		sub, multi   bool
		want         bool
	}{
		{"mx.example.com", "mx.example.com", false, true, true},
		{"MX.Example.COM", "mx.example.com", false, true, true},
		{"mx.example.com", "mx.example.org", false, true, false},
		{"*.example.com", "mx.example.com", false, true, true},
		{"*.example.com", "example.com", false, true, false},
		{"*.example.com", "a.b.example.com", false, true, true},
		{"*.example.com", "a.b.example.com", false, false, false},
		{"*.com", "example.com", false, true, false},             // too few labels
		{"m*.example.com", "mx.example.com", false, true, false}, // partial wildcard
		{"*.*.example.com", "a.b.example.com", false, true, false},
		{"*..example.com", "a..example.com", false, true, false},
		{"*.example.com", "a_b.example.com", false, true, false},
		{"mx.example.com", "example.com", true, true, true}, // dot-nexthop
		{"a.b.example.com", "example.com", true, true, true},
		{"example.com", "example.com", true, true, false},
		{"*.example.com", "example.com", true, true, true},
		{"notexample.com", "example.com", true, true, false},
		{"mx.example.com\x00.evil", "mx.example.com", false, true, false},
		{"mx.example.com", "", false, true, false},
	}
	for _, tc := range tests {
		got := nameMatches(tc.pattern, refName{name: tc.ref, sub: tc.sub}, tc.multi)
		if got != tc.want {
			t.Errorf("nameMatches(%q, {%q sub=%v}, multi=%v) = %v, want %v", tc.pattern, tc.ref, tc.sub, tc.multi, got, tc.want)
		}
	}
}

func TestExpandPatterns(t *testing.T) {
	tests := []struct {
		patterns []string
		want     []string
		count    int
		warn     string
	}{
		{[]string{"hostname"}, []string{"mx.example.com"}, 1, ""},
		{[]string{"NextHop", "dot-nexthop"}, []string{"example.com", ".example.com"}, 2, ""},
		{[]string{".example.org", "mail.example.net"}, []string{".example.org", "mail.example.net"}, 2, ""},
		{[]string{"."}, nil, 0, `ignoring invalid match name: "."`},
		{nil, nil, 0, ""},
	}
	for _, tc := range tests {
		var warned string
		refs, count := expandPatterns(tc.patterns, "example.com", "mx.example.com", logs.Lines(func(s string) { warned = s }))
		var got []string
		for _, r := range refs {
			got = append(got, r.String())
		}
		if !reflect.DeepEqual(got, tc.want) || count != tc.count || warned != tc.warn {
			t.Errorf("expandPatterns(%q) = %q, %d, warn %q; want %q, %d, %q", tc.patterns, got, count, warned, tc.want, tc.count, tc.warn)
		}
	}
}

func TestCertNamesAndOneline(t *testing.T) {
	c := &x509.Certificate{
		Subject: pkix.Name{Names: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "DE"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example\x01"},
			{Type: oidCN, Value: "a.example.com"},
			{Type: oidCN, Value: "b.example.com"},
			{Type: asn1.ObjectIdentifier{1, 2, 3}, Value: "x"},
		}},
	}
	if got := certNames(c); !reflect.DeepEqual(got, []string{"a.example.com", "b.example.com"}) {
		t.Errorf("certNames without SANs = %q", got)
	}
	if got, want := oneline(c, false), "/C=DE/O=Example?/CN=a.example.com/CN=b.example.com/1.2.3=x"; got != want {
		t.Errorf("oneline = %q, want %q", got, want)
	}
	c.DNSNames = []string{"san.example.com"}
	if got := certNames(c); !reflect.DeepEqual(got, []string{"san.example.com"}) {
		t.Errorf("certNames with SANs = %q", got)
	}
	if name, code := matchPeer(c, []refName{{name: "a.example.com"}}, true); code == 0 {
		t.Errorf("CN matched (%q) although SANs exist", name)
	}
}

// TestMatchPeerIP: an IP address literal among the references is
// OpenSSL's IP check (SSL_add1_host), met by an iPAddress subjectAltName
// only; host names must match as well when there are any. Found with
// posttls-finger -X -l verify to [127.0.0.1] (reference "hostname" =
// 127.0.0.1): Debian's tlsproxy verified a certificate with IP SAN
// 127.0.0.1, ours reported a host name mismatch.
func TestMatchPeerIP(t *testing.T) {
	c := &x509.Certificate{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}}
	cnOnly := &x509.Certificate{Subject: pkix.Name{Names: []pkix.AttributeTypeAndValue{{Type: oidCN, Value: "127.0.0.1"}}}}
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		refs []refName
		want string
		code int
	}{
		{"IPv4 literal", c, []refName{{name: "127.0.0.1"}}, "", 0},
		{"IPv6 literal", c, []refName{{name: "::1"}}, "", 0},
		{"other IP", c, []refName{{name: "192.0.2.1"}}, "", errIPMismatch},
		{"IP never matches a CN", cnOnly, []refName{{name: "127.0.0.1"}}, "", errIPMismatch},
		{"host and IP", c, []refName{{name: "localhost"}, {name: "127.0.0.1"}}, "localhost", 0},
		{"host mismatch first", c, []refName{{name: "mx.example.com"}, {name: "192.0.2.1"}}, "", errHostnameMismatch},
		{"host ok, IP not", c, []refName{{name: "localhost"}, {name: "192.0.2.1"}}, "", errIPMismatch},
		{"only the first IP counts", c, []refName{{name: "192.0.2.1"}, {name: "127.0.0.1"}}, "", errIPMismatch},
		{"a dotted subdomain is a host name", c, []refName{{name: "127.0.0.1", sub: true}}, "", errHostnameMismatch},
	} {
		if name, code := matchPeer(tc.c, tc.refs, false); name != tc.want || code != tc.code {
			t.Errorf("%s: matchPeer = %q, %d; want %q, %d", tc.name, name, code, tc.want, tc.code)
		}
	}
}

func TestHexDump(t *testing.T) {
	long := make([]byte, 65)
	long[0], long[64] = 0xab, 0xcd
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, "..."},
		{[]byte{0x0f, 0xa0}, "0FA0"},
		{long, "AB" + strings.Repeat("00", 31) + "..." + strings.Repeat("00", 31) + "CD"},
	}
	for _, tc := range tests {
		if got := hexDump(tc.in); got != tc.want {
			t.Errorf("hexDump(% x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzNameMatches checks the matcher's invariants on arbitrary names:
// case does not matter, an exact name matches itself, a subdomain
// reference never matches the domain itself, and a name never matches a
// reference it does not end with.
func FuzzNameMatches(f *testing.F) {
	for _, s := range [][2]string{
		{"*.example.com", "mx.example.com"}, {"mx.example.com", "MX.example.com"},
		{"*.com", "a.com"}, {"*..a.b", "x..a.b"}, {"", ""}, {"*.a.b", ".a.b"},
	} {
		f.Add(s[0], s[1], false, true)
		f.Add(s[0], s[1], true, false)
	}
	f.Fuzz(func(t *testing.T, pattern, ref string, sub, multi bool) {
		r := refName{name: ref, sub: sub}
		got := nameMatches(pattern, r, multi)
		if got != nameMatches(asciiUpper(pattern), refName{name: asciiUpper(ref), sub: sub}, multi) {
			t.Fatalf("case changes the result for %q / %q", pattern, ref)
		}
		if ref != "" && !sub && !strings.ContainsRune(ref, 0) && !nameMatches(ref, r, multi) {
			t.Fatalf("%q does not match itself", ref)
		}
		if sub && strings.EqualFold(pattern, ref) && got {
			t.Fatalf("subdomain reference .%q matched the domain itself", ref)
		}
		lp, lr := asciiLower(pattern), asciiLower(ref)
		if got && !strings.HasPrefix(lp, "*.") && !sub && lp != lr {
			t.Fatalf("%q matched different name %q", pattern, ref)
		}
		if got && len(r.String()) > 0 && !strings.HasPrefix(lp, "*.") && !strings.HasSuffix(lp, asciiLower(r.String())) {
			t.Fatalf("%q matched %q without ending in it", pattern, r.String())
		}
	})
}

func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
