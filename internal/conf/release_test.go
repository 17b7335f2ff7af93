package conf

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
)

// releaseGoldens are "postconf -d" of real installations, one file per
// release, for the names DefaultsFor gives that release: Debian 12's
// 3.7.11 (the host) and Debian 13's 3.10.13 (the tree of
// scripts/debian13.sh). With -update they are made again from those.
var releaseGoldens = []struct {
	release Release
	file    string
	chroot  string // "" = the host's postconf
}{
	{rel(3, 7, 11), "testdata/postconf-d-3.7.11.golden", ""},
	{rel(3, 10, 13), "testdata/postconf-d-3.10.13.golden", "/var/lib/tlsproxy-test/trixie"},
}

// releaseNames returns the names in d that are Postfix parameters (not
// ours), sorted.
func releaseNames(d map[string]Param) []string {
	var names []string
	for n, p := range d {
		if !p.Ours {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func TestDefaultsForReleases(t *testing.T) {
	for _, g := range releaseGoldens {
		t.Run(g.release.String(), func(t *testing.T) {
			d := DefaultsFor(g.release)
			names := releaseNames(d)
			if *pftest.Update {
				args := append([]string{"-d"}, names...)
				cmd := exec.Command("postconf", args...)
				if g.chroot != "" {
					if os.Getenv("TLSPROXY_DEB13_ROOT") != "" {
						g.chroot = os.Getenv("TLSPROXY_DEB13_ROOT")
					}
					cmd = exec.Command("chroot", append([]string{g.chroot, "postconf"}, args...)...)
				}
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %v", cmd.Args[:3], err)
				}
				got := parsePostconfRaw(string(out))
				var b strings.Builder
				for _, n := range names {
					v, ok := got[n]
					if !ok {
						continue // the test below says so
					}
					if d[n].Runtime {
						v = hostDependent
					}
					b.WriteString(strings.TrimRight(n+" = "+v, " ") + "\n")
				}
				if err := os.WriteFile(g.file, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(g.file)
			if err != nil {
				t.Fatal(err)
			}
			golden := parsePostconfRaw(string(data))
			if len(golden) != len(names) {
				t.Errorf("golden has %d names, table %d", len(golden), len(names))
			}
			for _, n := range names {
				want, ok := golden[n]
				p := d[n]
				switch {
				case !ok:
					t.Errorf("%s: not known to postconf -d of %s", n, g.release)
				case p.Runtime:
				case strings.TrimRight(p.Default, " ") != want:
					t.Errorf("%s: table default %q, postconf -d %q", n, p.Default, want)
				}
			}
		})
	}
}

// TestLater: the fix-release rule.
func TestLater(t *testing.T) {
	fixes := []Release{rel(3, 7, 16), rel(3, 8, 11), rel(3, 10, 4)}
	for _, tc := range []struct {
		v    Release
		want bool
	}{
		{rel(3, 6, 20), false}, {rel(3, 7, 11), false}, {rel(3, 7, 16), true}, {rel(3, 8, 10), false},
		{rel(3, 8, 11), true}, {rel(3, 9, 3), false}, {rel(3, 10, 13), true}, {rel(3, 11, 0), true},
		{Release{Major: 3, Minor: 12, Snapshot: 20260821}, true},
	} {
		if got := Later(tc.v, fixes...); got != tc.want {
			t.Errorf("Later(%s) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestSetRelease: an unset parameter takes the installed release's
// default, an explicit one keeps its value.
func TestSetRelease(t *testing.T) {
	c, err := Parse("main.cf", strings.NewReader("compatibility_level = 3.11\nsmtp_tls_policy_maps = hash:/etc/p\ntlsproxy_client_policy = hash:/etc/old\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		release Release
		name    string
		want    string
	}{
		{rel(3, 7, 11), "smtp_tls_security_level", ""},
		{rel(3, 11, 6), "smtp_tls_security_level", "may"},
		{rel(3, 11, 6), "tlsproxy_client_security_level", "may"},
		// Before the fix, setting the old name emptied the new one.
		{rel(3, 7, 11), "tlsproxy_client_policy_maps", ""},
		{rel(3, 7, 22), "tlsproxy_client_policy_maps", "hash:/etc/old"},
		{rel(3, 10, 13), "tls_eecdh_auto_curves", "X25519 X448 prime256v1 secp384r1 secp521r1 "},
		{rel(3, 11, 6), "tls_eecdh_auto_curves", PQGroupsDefault},
		{rel(3, 10, 13), "mail_version", "3.10.13"},
	} {
		c.SetRelease(tc.release)
		if got, err := c.Str(tc.name); err != nil || got != tc.want {
			t.Errorf("%s %s = %q (%v), want %q", tc.release, tc.name, got, err, tc.want)
		}
	}
}
