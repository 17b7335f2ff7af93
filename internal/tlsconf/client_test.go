package tlsconf

import (
	"strings"
	"testing"

	"tlsproxy/internal/conf"
)

// TestClientSettings: the tlsproxy_client_* parameters default to their
// smtp_tls_* namesakes, and a value of our own wins.
func TestClientSettings(t *testing.T) {
	for _, tc := range []struct {
		name, mainCF string
		check        func(Client) bool
	}{
		{"level from smtp", "smtp_tls_security_level = dane\n",
			func(c Client) bool { return c.SecurityLevel == "dane" }},
		{"own level wins", "smtp_tls_security_level = dane\ntlsproxy_client_security_level = none\n",
			func(c Client) bool { return c.SecurityLevel == "none" }},
		{"CA file from smtp", "smtp_tls_CAfile = /etc/ssl/ca.pem\n",
			func(c Client) bool { return c.Init["CAfile"] == "/etc/ssl/ca.pem" }},
		{"verify depth", "smtp_tls_scert_verifydepth = 5\n",
			func(c Client) bool { return c.Init["verifydepth"] == "5" }},
		{"log parameter name", "",
			func(c Client) bool { return c.Init["log_param"] == "smtp_tls_loglevel" && c.Init["cache_type"] == "" }},
		{"policy maps", "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy\n",
			func(c Client) bool { return c.PolicyMaps == "hash:/etc/postfix/tls_policy" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := conf.Parse("main.cf", strings.NewReader(tc.mainCF), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(cfg)
			c := ClientSettings(r)
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("ClientSettings = %+v", c)
			}
		})
	}
}
