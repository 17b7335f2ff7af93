package tlsmgr

import "testing"

// TestTicketCipherValid: the names Debian's tlsproxy (Postfix 3.7.11,
// OpenSSL 3.0) accepted or refused with "invalid value ... session tickets
// disabled" when tried one by one.
func TestTicketCipherValid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"aes-256-cbc", true}, // the default
		{"aes-128-cbc", true},
		{"aes-192-cbc", true},
		{"AES256", true},
		{"camellia-256-cbc", true},
		{"Camellia-192-CBC", true},
		{"camellia128", true},
		{"aria-128-cbc", true},
		{"aria256", true},
		{"sm4-cbc", true},
		{"sm4", true},
		{"aes-128-cbc-hmac-sha1", true},
		{"aes-256-cbc-hmac-sha256", true},
		{"aes-256-cbc-cts", true},
		{"aes-192-cbc-hmac-sha1", false},
		{"aes-256-gcm", false},
		{"aes-256-ctr", false},
		{"aes-128-ocb", false},
		{"des-ede3-cbc", false},
		{"bf-cbc", false},
		{"seed-cbc", false},
		{"bogus-cipher", false},
		{"", false},
	} {
		if got := TicketCipherValid(tc.name); got != tc.valid {
			t.Errorf("TicketCipherValid(%q) = %v, want %v", tc.name, got, tc.valid)
		}
	}
}
