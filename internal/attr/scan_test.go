package attr

import (
	"errors"
	"strings"
	"testing"
)

var request37Names = []string{"remote_endpoint", "flags", "timeout", "timeout", "serverid"}

func TestExpect(t *testing.T) {
	tests := []struct {
		name  string
		l     List
		names []string
		want  string // "" = no error
		kind  ScanKind
	}{
		{"3.7 request", postscreen37Request, request37Names, "", 0},
		{"G2 request to 3.7 (captured)", g2Request, request37Names,
			"unexpected attribute server_id from plaintext (expecting: timeout)", Unexpected},
		{"G1 request to 3.7", g1Request, request37Names,
			"missing attribute timeout in input from plaintext", Missing},
		{"3.7 request without serverid", postscreen37Request[:4], request37Names,
			"missing attribute serverid in input from plaintext", Missing},
		{"3.7 request to G2", postscreen37Request, g2Request.Names(),
			"unexpected attribute timeout from plaintext (expecting: server_id)", Unexpected},
		{"extra attribute", postscreen37Request, request37Names[:4],
			"unexpected attribute serverid from plaintext (expecting: (list terminator))", Unexpected},
		{"empty list", List{}, nil, "", 0},
		{"3.11 client to 3.7 (captured)", List{Str("tls_high_cipherlist", ""), Str("tls_medium_cipherlist", ""), Str("tls_null_cipherlist", "")},
			[]string{"tls_high_cipherlist", "tls_medium_cipherlist", "tls_low_cipherlist"},
			"unexpected attribute tls_null_cipherlist from plaintext (expecting: tls_low_cipherlist)", Unexpected},
	}
	for _, tc := range tests {
		err := tc.l.Expect("plaintext", tc.names...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var se *ScanError
		if !errors.As(err, &se) || err.Error() != tc.want || se.Kind != tc.kind {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// TestCursorClientRole walks the 3.7 client-role list the way tlsproxy
// scans it: PARAMS, INIT, START with the ARGV and DANE sub-structures.
func TestCursorClientRole(t *testing.T) {
	c := clientRole37Second.Cursor("plaintext")
	if n, _ := c.PeekName(); n != "config_file" {
		t.Fatalf("PeekName = %q", n)
	}
	_, hasConfig := c.Optional("config_file")
	if _, ok := c.Optional("config_file"); !hasConfig || ok {
		t.Fatalf("Optional: first %v, second %v", hasConfig, ok)
	}
	if v, err := c.Next("config_name"); err != nil || v != "" {
		t.Fatalf("config_name = %q, %v", v, err)
	}
	for _, n := range clientRole37Second.Names()[2:15] {
		if _, err := c.Next(n); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.NextInt("tls_daemon_random_bytes"); err != nil || n != 32 {
		t.Fatalf("tls_daemon_random_bytes = %d, %v", n, err)
	}
	c = clientRole37Second.Cursor("plaintext")
	for c.Rest()[0].Name != "argv_size" {
		c.Next(c.Rest()[0].Name)
	}
	size, err := c.NextInt("argv_size")
	if err != nil || size != 0 {
		t.Fatalf("argv_size = %d, %v", size, err)
	}
	for range size {
		if _, err := c.Next("argv_value"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Next("mdalg"); err != nil {
		t.Fatal(err)
	}
	if dane, err := c.NextInt("dane"); err != nil || dane != 0 {
		t.Fatalf("dane = %d, %v", dane, err)
	}
	if err := c.Done(); err != nil || len(c.Rest()) != 0 {
		t.Errorf("Done = %v, Rest %q", err, c.Rest())
	}
	if _, err := c.Next("domain"); err == nil || err.Error() != "missing attribute domain in input from plaintext" {
		t.Errorf("Next past the end: %v", err)
	}
}

func TestCursorDANE(t *testing.T) {
	l := List{Int("dane", 1), Str("domain", "example.com"), Int("count", 1),
		Int("usage", 3), Int("selector", 1), Int("mtype", 1), Data("data", []byte{0xde, 0xad}), Str("extra", "")}
	c := l.Cursor("plaintext")
	dane, _ := c.NextInt("dane")
	domain, _ := c.Next("domain")
	count, _ := c.NextInt("count")
	usage, _ := c.NextInt("usage")
	sel, _ := c.NextInt("selector")
	mtype, _ := c.NextInt("mtype")
	data, err := c.NextData("data")
	if dane != 1 || domain != "example.com" || count != 1 || usage != 3 || sel != 1 || mtype != 1 || string(data) != "\xde\xad" || err != nil {
		t.Errorf("got %d %q %d %d %d %d %x %v", dane, domain, count, usage, sel, mtype, data, err)
	}
	const want = "unexpected attribute extra from plaintext (expecting: (list terminator))"
	if err := c.Done(); err == nil || err.Error() != want {
		t.Errorf("Done = %v", err)
	}
}

func TestCursorMalformed(t *testing.T) {
	tests := []struct {
		l    List
		get  func(*Cursor) error
		want string
		is   error
	}{
		{List{Str("flags", "12x")}, func(c *Cursor) error { _, err := c.NextInt("flags"); return err },
			"malformed numerical data from plaintext while reading flags: 12x", ErrMalformedNumber},
		{List{Str("exp", "")}, func(c *Cursor) error { _, err := c.NextLong("exp"); return err },
			"malformed numerical data from plaintext while reading exp: ", ErrMalformedNumber},
		{List{Str("data", "QQ")}, func(c *Cursor) error { _, err := c.NextData("data"); return err },
			"malformed base64 data from plaintext while reading data: QQ", ErrMalformedData},
		{List{Str("data", strings.Repeat("!", 150))}, func(c *Cursor) error { _, err := c.NextData("data"); return err },
			"malformed base64 data from plaintext while reading data: " + strings.Repeat("!", 100), ErrMalformedData},
		{List{Str("flag", "1")}, func(c *Cursor) error { _, err := c.NextInt("flags"); return err },
			"unexpected attribute flag from plaintext (expecting: flags)", nil},
	}
	for _, tc := range tests {
		err := tc.get(tc.l.Cursor("plaintext"))
		if err == nil || err.Error() != tc.want || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
