package tlspolicy

import (
	"crypto/tls"
	"slices"
	"testing"

	"tlsproxy/internal/logs"
)

func TestKeyExchangeGroups(t *testing.T) {
	const def37 = "X25519 X448 prime256v1 secp521r1 secp384r1"
	const def310 = "X25519 X448 prime256v1 secp384r1 secp521r1 "
	pqDef := []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}
	for _, tc := range []struct {
		name     string
		s        GroupSettings
		want     []tls.CurveID
		warnings []string
	}{
		{"unset: 3.11 default on 3.7", GroupSettings{EECDH: def37, DefaultEECDH: def37, Series: 307}, pqDef, nil},
		{"unset: 3.11 default on 3.10", GroupSettings{EECDH: def310, FFDHE: "ffdhe2048 ffdhe3072 ", Series: 310}, pqDef, nil},
		{"3.7 P-256 only", GroupSettings{EECDH: "prime256v1", EECDHSet: true, DefaultEECDH: def37, Series: 307},
			[]tls.CurveID{tls.CurveP256}, nil},
		{"3.7 NIST name", GroupSettings{EECDH: "P-384, X25519", EECDHSet: true, Series: 307},
			[]tls.CurveID{tls.CurveP384, tls.X25519}, nil},
		{"3.7 case matters", GroupSettings{EECDH: "x25519 prime256v1", EECDHSet: true, Series: 307},
			[]tls.CurveID{tls.CurveP256}, []string{`ignoring unknown ECDHE curve "x25519"`}},
		{"3.7 the 3.7 default set explicitly", GroupSettings{EECDH: def37, EECDHSet: true, DefaultEECDH: def37, Series: 307},
			[]tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP521, tls.CurveP384},
			[]string{`tls_eecdh_auto_curves: key exchange group "X448" is not supported by this implementation (Go crypto/tls): ignored`}},
		{"3.7 nothing Go has", GroupSettings{EECDH: "X448", EECDHSet: true, DefaultEECDH: def37, Series: 307}, pqDef,
			[]string{`tls_eecdh_auto_curves: key exchange group "X448" is not supported by this implementation (Go crypto/tls): ignored`,
				"none of the configured ECDHE curves are supported"}},
		{"3.7 empty", GroupSettings{EECDH: "", EECDHSet: true, DefaultEECDH: def37, Series: 307}, pqDef, nil},
		{"3.7 post-quantum listed", GroupSettings{EECDH: "X25519MLKEM768", EECDHSet: true, Series: 307},
			[]tls.CurveID{tls.X25519MLKEM768}, nil},
		{"3.9 unknown warned", GroupSettings{EECDH: "bogus secp384r1", EECDHSet: true, FFDHE: "ffdhe2048 ffdhe3072 ", Series: 309},
			[]tls.CurveID{tls.CurveP384}, []string{`ignoring unknown key exchange group "bogus"`}},
		{"3.9 FFDHE set", GroupSettings{EECDH: def37, FFDHE: "ffdhe4096", FFDHESet: true, DefaultEECDH: def37, Series: 309}, pqDef,
			[]string{`tls_ffdhe_auto_groups: key exchange group "ffdhe4096" is not supported by this implementation (Go crypto/tls): ignored`}},
		{"3.10 unknown silent, fallback", GroupSettings{EECDH: "bogus", EECDHSet: true, DefaultEECDH: def310, FFDHE: "ffdhe2048 ffdhe3072 ",
			DefaultFFDHE: "ffdhe2048 ffdhe3072 ", Series: 310}, pqDef,
			[]string{"none of the configured key exchange groups are supported", "using Postfix default key exchange groups instead"}},
		{"3.10 both empty: OpenSSL default", GroupSettings{EECDH: "", EECDHSet: true, FFDHE: "", FFDHESet: true, Series: 310}, pqDef, nil},
		{"3.10 both empty: tls_config_file Groups", GroupSettings{EECDH: " ", EECDHSet: true, FFDHE: "", FFDHESet: true, Series: 310,
			ConfigGroups: "P-256:X25519"}, []tls.CurveID{tls.CurveP256, tls.X25519}, nil},
		{"3.10 a token is a list, refused whole", GroupSettings{EECDH: "X25519:bogus secp521r1", EECDHSet: true, Series: 310},
			[]tls.CurveID{tls.CurveP521}, nil},
		{"3.11 syntax", GroupSettings{EECDH: "?X25519MLKEM768:DEFAULT:-X25519 ?bogus *P-256", EECDHSet: true, Series: 311},
			[]tls.CurveID{tls.X25519MLKEM768, tls.CurveP256, tls.CurveP384, tls.CurveP521}, nil},
		{"3.11 tuples", GroupSettings{EECDH: "*SecP256r1MLKEM768/*X25519:secp384r1 / X448", EECDHSet: true, Series: 311},
			[]tls.CurveID{tls.SecP256r1MLKEM768, tls.X25519, tls.CurveP384},
			[]string{`tls_eecdh_auto_curves: key exchange group "X448" is not supported by this implementation (Go crypto/tls): ignored`}},
		{"3.11 splits at colons", GroupSettings{EECDH: "X25519:bogus:secp521r1", EECDHSet: true, Series: 311},
			[]tls.CurveID{tls.X25519, tls.CurveP521}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warnings []string
			got := KeyExchangeGroups(tc.s, logs.Lines(func(w string) { warnings = append(warnings, w) }))
			if !slices.Equal(got.Curves, tc.want) {
				t.Errorf("curves %v, want %v", got.Curves, tc.want)
			}
			if !slices.Equal(warnings, tc.warnings) {
				t.Errorf("warnings %q, want %q", warnings, tc.warnings)
			}
		})
	}
}

// TestHandshakeGroups: the groups chosen decide what a Go client gets.
func TestHandshakeGroups(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		eecdh  string // "" = unset
		client []tls.CurveID
		want   tls.CurveID // 0: handshake fails
	}{
		{"default, Go default client", "", nil, tls.X25519MLKEM768},
		{"default, X25519 client", "", []tls.CurveID{tls.X25519}, tls.X25519},
		{"P-256 only, X25519 client", "prime256v1", []tls.CurveID{tls.X25519}, 0},
		{"P-256 only, P-256 client", "prime256v1", []tls.CurveID{tls.X25519, tls.CurveP256}, tls.CurveP256},
		{"hybrid listed", "X25519MLKEM768", nil, tls.X25519MLKEM768},
		{"P-384 hybrid listed", "SecP384r1MLKEM1024 X25519", nil, tls.SecP384r1MLKEM1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.settings()
			s.Global.Groups = GroupSettings{EECDH: tc.eecdh, EECDHSet: tc.eecdh != "", Series: 307}
			srv := mustServer(t, s)
			_, st, err := handshake(t, srv, &tls.Config{CurvePreferences: tc.client})
			switch {
			case tc.want == 0 && err == nil:
				t.Errorf("handshake succeeded with %v", st.CurveID)
			case tc.want != 0 && err != nil:
				t.Errorf("handshake: %v", err)
			case tc.want != 0 && st.CurveID != tc.want:
				t.Errorf("group %v, want %v", st.CurveID, tc.want)
			}
		})
	}
}
