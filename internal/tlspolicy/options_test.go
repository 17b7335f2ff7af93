package tlspolicy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
)

// TestOpenSSLConfig: tls_config_file / tls_config_name as Postfix reads
// them; what Go can express is applied, the rest noted.
func TestOpenSSLConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "openssl.cnf")
	cnf := `# test
openssl_conf = default_init
postfix = postfix_init

[default_init]
ssl_conf = default_ssl

[default_ssl]
system_default = default_sys

[default_sys]
MinProtocol = TLSv1.2

[postfix_init]
ssl_conf = postfix_ssl

[postfix_ssl]
system_default = postfix_sys

[postfix_sys]
MinProtocol = TLSv1.2
MaxProtocol = TLSv1.2
Groups = P-256:X25519
CipherString = DEFAULT:@SECLEVEL=2
`
	if err := os.WriteFile(file, []byte(cnf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		g        GlobalTLS
		min, max uint16
		curves   []tls.CurveID
		notes    []string // substrings, in order
		fatal    string
	}{
		{name: "postfix section", g: GlobalTLS{ConfigFile: file, ConfigName: "postfix", ConfigSet: true,
			Groups: GroupSettings{EECDHSet: true, FFDHESet: true, Series: 310}},
			min: tls.VersionTLS12, max: tls.VersionTLS12, curves: []tls.CurveID{tls.CurveP256, tls.X25519},
			notes: []string{"CipherString = DEFAULT:@SECLEVEL=2 in [postfix_sys] is not supported"}},
		{name: "global section", g: GlobalTLS{ConfigFile: file, ConfigSet: true},
			min: tls.VersionTLS12, curves: openSSLDefault},
		{name: "missing section, strict", g: GlobalTLS{ConfigFile: file, ConfigName: "nosuch", ConfigSet: true},
			fatal: "error loading the 'nosuch' settings from the " + file + " OpenSSL configuration file, disabling TLS support"},
		{name: "relative", g: GlobalTLS{ConfigFile: "x.cnf", ConfigSet: true},
			fatal: "non-default tls_config_file = x.cnf is not an absolute pathname, disabling TLS support"},
		{name: "none", g: GlobalTLS{ConfigFile: "none", ConfigSet: true}, curves: openSSLDefault[:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warnings []string
			o := tc.g.Resolve(logs.Lines(func(w string) { warnings = append(warnings, w) }))
			if o.Fatal != tc.fatal {
				t.Fatalf("fatal %q, want %q", o.Fatal, tc.fatal)
			}
			if tc.fatal != "" {
				return
			}
			if o.MinVersion != tc.min || o.MaxVersion != tc.max {
				t.Errorf("versions %x-%x, want %x-%x", o.MinVersion, o.MaxVersion, tc.min, tc.max)
			}
			if !slices.Equal(o.Curves, tc.curves) {
				t.Errorf("curves %v, want %v", o.Curves, tc.curves)
			}
			if len(o.Notes) != len(tc.notes) {
				t.Fatalf("notes %q, want %q", o.Notes, tc.notes)
			}
			for i, n := range tc.notes {
				if !strings.Contains(o.Notes[i], n) || !slices.Contains(warnings, o.Notes[i]) {
					t.Errorf("note %q (warned: %v), want %q", o.Notes[i], slices.Contains(warnings, o.Notes[i]), n)
				}
			}
		})
	}
}

// TestSSLOptions: NO_TICKET turns tickets off; the others are harmless,
// warned about, or unknown as in Postfix.
func TestSSLOptions(t *testing.T) {
	for _, tc := range []struct {
		opts      string
		noTickets bool
		warnings  []string
	}{
		{"NO_TICKET", true, nil},
		{"no_ticket, NO_COMPRESSION ENABLE_MIDDLEBOX_COMPAT", true, nil},
		{"PRIORITIZE_CHACHA", false, []string{"tls_ssl_options: PRIORITIZE_CHACHA has no effect in this implementation: " +
			"Go crypto/tls chooses ChaCha20-Poly1305 by its own rules (when the client prefers it and has no AES hardware)"}},
		{"0x40000000", false, []string{"tls_ssl_options: the OpenSSL option bits 0x40000000 have no meaning in this implementation (Go crypto/tls): ignored"}},
		{"NO_SUCH", false, []string{`unknown tls_ssl_options value "NO_SUCH" in "NO_SUCH"`}},
	} {
		var warnings []string
		o := GlobalTLS{SSLOptions: tc.opts}.Resolve(logs.Lines(func(w string) { warnings = append(warnings, w) }))
		if o.NoTickets != tc.noTickets || !slices.Equal(warnings, tc.warnings) {
			t.Errorf("%q: NoTickets %v warnings %q, want %v %q", tc.opts, o.NoTickets, warnings, tc.noTickets, tc.warnings)
		}
	}
}

// TestNoTicketHandshake: with NO_TICKET a TLS 1.3 client gets no ticket.
func TestNoTicketHandshake(t *testing.T) {
	f := newFixture(t)
	s := f.settings()
	s.Global.SSLOptions = "NO_TICKET"
	srv := mustServer(t, s)
	if !srv.Config.SessionTicketsDisabled {
		t.Error("session tickets still enabled")
	}
}
