package interop

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// kexOf is the key exchange Postfix logs for a TLS 1.3 session.
func kexOf(st tls.ConnectionState) string {
	switch st.CurveID {
	case tls.CurveP256, tls.CurveP384, tls.CurveP521:
		return "ECDHE"
	case 0:
		return "X25519"
	}
	return st.CurveID.String()
}

func kexOr(kex string) string {
	if kex == "" {
		return "X25519"
	}
	return regexp.QuoteMeta(kex)
}

// groupsSession runs a STARTTLS session with a Go client offering curves
// (nil: Go's default, X25519MLKEM768 first) and returns the group it got
// (0 when the handshake failed) and the client's port.
func groupsSession(t *testing.T, in *instance, curves []tls.CurveID) (tls.CurveID, int, string) {
	t.Helper()
	c := dialSMTP(t, in.addr())
	c.greetAndStartTLS()
	tc := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true, CurvePreferences: curves, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		return 0, c.port, err.Error()
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	if code, lines := c.cmd("EHLO go.test"); code != 250 {
		return 0, c.port, fmt.Sprintf("EHLO over TLS: %q", lines)
	}
	c.cmd("QUIT")
	return tc.ConnectionState().CurveID, c.port, ""
}

// groupsCase runs one client case of the key-exchange group tests: a
// session offering curves against in, whose group must be want (0:
// refused). It returns the group, the key exchange of tlsproxy's
// established line ("" when there is none) and the session's log
// segment; a refused session must log no established line, and OpenSSL's reason.
func groupsCase(t *testing.T, in *instance, name string, curves []tls.CurveID, want tls.CurveID) (got tls.CurveID, kex, seg string) {
	t.Helper()
	offset := in.logSize(t)
	got, port, detail := groupsSession(t, in, curves)
	if got != want {
		t.Errorf("%s: group %v, want %v %s", name, got, want, detail)
	}
	seg = sessionLog(t, in, offset, port)
	est := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: \w+ TLS connection established from \[127\.0\.0\.1\]:%d: .* key-exchange (\S+)`, port))
	if m := est.FindStringSubmatch(seg); m != nil {
		kex = m[1]
	}
	if got == 0 && kex != "" {
		t.Errorf("%s: refused, but logged established", name)
	}
	// A refusal for want of a common group is worded by OpenSSL's reason
	// (both releases, both implementations).
	if got == 0 && !strings.Contains(seg, "warning: TLS library problem: error:0A000065:SSL routines::no suitable key share:") {
		t.Errorf("%s: refused without OpenSSL's \"no suitable key share\":\n%s", name, tlsproxyLines(seg))
	}
	return got, kex, seg
}

// groupsOutcome is a client case's entry in a test's summary line.
func groupsOutcome(name string, got tls.CurveID) string {
	if got == 0 {
		return name + "=refused"
	}
	return name + "=" + got.String()
}

// TestKeyExchangeGroups: with tls_eecdh_auto_curves = prime256v1, Debian's
// tlsproxy and ours refuse a client that only has X25519 and serve one
// that has P-256; with X25519MLKEM768 listed, ours negotiates it with a Go
// client's defaults (Debian 12's OpenSSL 3.0 does not have the group); at
// the default, ours uses Postfix 3.11's list and negotiates it too.
func TestKeyExchangeGroups(t *testing.T) {
	requireInterop(t)
	p256 := policy{"groups-p256", []string{"postscreen_greet_banner =", "tls_eecdh_auto_curves = prime256v1"}}
	mlkem := policy{"groups-mlkem", []string{"postscreen_greet_banner =", "tls_eecdh_auto_curves = X25519MLKEM768"}}
	type clientCase struct {
		name   string
		curves []tls.CurveID
		want   map[string]tls.CurveID // by impl; 0 = refused
	}
	for _, tc := range []struct {
		p       policy
		clients []clientCase
	}{
		{p256, []clientCase{
			{"X25519 only", []tls.CurveID{tls.X25519}, map[string]tls.CurveID{"debian": 0, "ours": 0}},
			{"X25519 and P-256", []tls.CurveID{tls.X25519, tls.CurveP256}, map[string]tls.CurveID{"debian": tls.CurveP256, "ours": tls.CurveP256}},
			{"Go default", nil, map[string]tls.CurveID{"debian": tls.CurveP256, "ours": tls.CurveP256}},
		}},
		{mlkem, []clientCase{
			{"Go default", nil, map[string]tls.CurveID{"debian": tls.X25519, "ours": tls.X25519MLKEM768}},
		}},
		{policyDefault, []clientCase{
			{"Go default", nil, map[string]tls.CurveID{"debian": tls.X25519, "ours": tls.X25519MLKEM768}},
			{"P-384 only", []tls.CurveID{tls.CurveP384}, map[string]tls.CurveID{"debian": tls.CurveP384, "ours": tls.CurveP384}},
		}},
	} {
		for _, im := range impls {
			t.Run(tc.p.name+"/"+im.name, func(t *testing.T) {
				in := policyInstanceFor(t, im, tc.p)
				var summary []string
				for _, cc := range tc.clients {
					got, kex, seg := groupsCase(t, in, cc.name, cc.curves, cc.want[im.name])
					if want := kexOf(tls.ConnectionState{CurveID: got}); got != 0 && kex != want {
						t.Errorf("%s: established line with key-exchange %q, want %s:\n%s", cc.name, kex, want, tlsproxyLines(seg))
					}
					if got == 0 || im.name == "debian" {
						t.Logf("%s:\n%s", cc.name, tlsproxyLines(seg))
					} else if strings.Contains(seg, "warning:") {
						t.Errorf("%s: warnings:\n%s", cc.name, tlsproxyLines(seg))
					}
					summary = append(summary, groupsOutcome(cc.name, got))
				}
				t.Logf("%s", strings.Join(summary, ", "))
			})
		}
	}
}
