package proxy

import (
	"testing"

	"tlsproxy/internal/attr"
)

// oldDANERequest is a 3.4/3.5 client-role property list at level
// fingerprint, whose INIT part has cache_type cacheType.
func oldDANERequest(cacheType string) attr.List {
	l := attr.List{{Name: "p", Value: "0"}}
	for _, n := range initClientNames {
		v := "x"
		if n == "cache_type" {
			v = cacheType
		}
		l = append(l, attr.Attr{Name: n, Value: v})
	}
	l = append(l, attr.List{{Name: "timeout", Value: "30"}, {Name: "tls_level", Value: "3"},
		{Name: "nexthop", Value: "example.com"}, {Name: "host", Value: "mx.example.com"},
		{Name: "namaddr", Value: "mx[1.2.3.4]:25"}, {Name: "sni", Value: ""}, {Name: "serverid", Value: "s"},
		{Name: "helo", Value: ""}, {Name: "protocols", Value: ""}, {Name: "cipher_grade", Value: "medium"},
		{Name: "cipher_exclusions", Value: ""}, {Name: "argv_size", Value: "0"}, {Name: "mdalg", Value: "sha256"},
		{Name: "dane", Value: "1"},
		{Name: "count", Value: "0"}, // ta
		{Name: "count", Value: "1"}, // ee
		{Name: "mdalg", Value: "sha256"},
		{Name: "argv_size", Value: "1"}, {Name: "argv_value", Value: "AB:CD"},
		{Name: "argv_size", Value: "0"},
		{Name: "count", Value: "0"}, {Name: "count", Value: "0"},
		{Name: "domain", Value: ""}, {Name: "flags", Value: "0"}, {Name: "exp", Value: "0"}}...)
	return l
}

// A 3.4/3.5 request at level fingerprint carries its fingerprint in the
// old DANE form's "ee" digest list; it must reach tlsclient as a record.
func TestOldDANEFormKeepsRecords(t *testing.T) {
	p, err := parseClientProps(oldDANERequest("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	st := p.clientStart()
	if len(st.TLSA) != 1 || st.TLSA[0].Usage != 3 || st.TLSA[0].Selector != 0 || st.TLSA[0].MType != 1 ||
		string(st.TLSA[0].Data) != "\xab\xcd" {
		t.Errorf("old-form fingerprint became %+v", st.TLSA)
	}
}

// The requester's cache_type (smtp(8) or lmtp(8)) reaches tlsclient, which
// picks tlsmgr's cache of that type.
func TestClientStartCacheType(t *testing.T) {
	for _, ct := range []string{"smtp", "lmtp", ""} {
		p, err := parseClientProps(oldDANERequest(ct))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.clientStart().CacheType; got != ct {
			t.Errorf("cache_type %q became %q", ct, got)
		}
	}
}
