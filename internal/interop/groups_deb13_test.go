package interop

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestKeyExchangeGroupsDeb13: the groups through Debian 13's postscreen
// (Postfix 3.10, OpenSSL 3.5), Debian 13's C tlsproxy side by side with
// ours: prime256v1 only refuses an X25519-only client for both; with
// X25519MLKEM768 listed both negotiate it (OpenSSL 3.5 has it); at the
// default, Debian 13's 3.10 list has no post-quantum group and ours uses
// Postfix 3.11's. The logged key exchange must be the same word for the
// same group.
func TestKeyExchangeGroupsDeb13(t *testing.T) {
	requireDeb13(t)
	type clientCase struct {
		name   string
		curves []tls.CurveID
		want   map[string]tls.CurveID // by impl; 0 = refused
	}
	both := func(id tls.CurveID) map[string]tls.CurveID {
		return map[string]tls.CurveID{"deb13-debian": id, "deb13-ours": id}
	}
	kexWords := map[string]string{} // group/case → logged word of Debian 13
	for _, tc := range []struct {
		name    string
		main    string
		clients []clientCase
	}{
		{"p256", "tls_eecdh_auto_curves = prime256v1", []clientCase{
			{"X25519 only", []tls.CurveID{tls.X25519}, both(0)},
			{"Go default", nil, both(tls.CurveP256)},
		}},
		{"mlkem", "tls_eecdh_auto_curves = X25519MLKEM768", []clientCase{
			{"Go default", nil, both(tls.X25519MLKEM768)},
		}},
		{"default", "", []clientCase{
			{"Go default", nil, map[string]tls.CurveID{"deb13-debian": tls.X25519, "deb13-ours": tls.X25519MLKEM768}},
			{"X25519 only", []tls.CurveID{tls.X25519}, both(tls.X25519)},
		}},
	} {
		for _, im := range deb13Impls {
			t.Run(tc.name+"/"+im.name, func(t *testing.T) {
				args := []string{"--chroot", "n", "--main", "postscreen_greet_banner ="}
				if tc.main != "" {
					args = append(args, "--main", tc.main)
				}
				in := onceFor(t, "groups-deb13:"+im.name+"/"+tc.name, func() (*instance, error) {
					in, _, err := startIn(im.root(), im.binary(t), args...)
					return in, err
				})
				var summary []string
				for _, cc := range tc.clients {
					got, kex, seg := groupsCase(t, in, cc.name, cc.curves, cc.want[im.name])
					switch {
					case got != 0 && kex == "":
						t.Errorf("%s: no established line:\n%s", cc.name, tlsproxyLines(seg))
					case got != 0:
						key := got.String()
						if w, ok := kexWords[key]; ok && w != kex {
							t.Errorf("%s: key-exchange %s, Debian 13's tlsproxy logs %s for %v", cc.name, kex, w, got)
						} else if !ok && im.name == "deb13-debian" {
							kexWords[key] = kex
						}
					}
					if got == 0 || strings.Contains(seg, "warning:") {
						t.Logf("%s:\n%s", cc.name, tlsproxyLines(seg))
					}
					summary = append(summary, groupsOutcome(cc.name, got))
				}
				t.Logf("%s", strings.Join(summary, ", "))
			})
		}
	}
}
