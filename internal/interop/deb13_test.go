package interop

// The interop tests against Debian 13 (Postfix 3.10, OpenSSL 3.5): the
// server role under postscreen, the client role with smtp(8) connection
// reuse, resumption across tlsproxy processes, and the level-1 and
// level-2 logs, each run with Debian 13's C tlsproxy and with ours under
// the same Debian 13 master(8). Where Debian 13 logs differently from
// Debian 12, the log is compared with Debian 13's tlsproxy's, not with a
// fixed text.

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// deb13Established is the server role's "established" rule with the
// key-exchange group the client saw, in either case: which case is right
// is decided by the comparison with Debian 13's own tlsproxy.
var deb13Established = logRule{"established", `postfix/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.1\]:{PORT}: TLSv1\.3 with cipher {CIPHER} \(\d+/\d+ bits\) key-exchange (?i:{KEX}) server-signature RSA-PSS \(2048 bits\) server-digest SHA256$`, true}

// deb13Rules is rules with the "established" rule replaced.
func deb13Rules(rules []logRule) []logRule {
	out := append([]logRule(nil), rules...)
	for i, r := range out {
		if r.name == deb13Established.name {
			out[i] = deb13Established
		}
	}
	return out
}

// normalizeDeb13 is normalizeVerbose, and OpenSSL's source file and
// line in a "TLS library problem" warning (a build detail; the error
// code and words are compared) become FILE:LINE.
func normalizeDeb13(s string) string {
	s = regexp.MustCompile(`(?m)(: warning: TLS library problem: error:[0-9A-F]{8}:[A-Za-z ]+::[^:\n]+):[^:\n]+:\d+:`).ReplaceAllString(s, "$1:FILE:LINE:")
	return normalizeVerbose(s)
}

// TestDeb13ServerRole: TestServerRole's sessions (crypto/tls, openssl
// s_client, garbage instead of a ClientHello) through Debian 13's
// postscreen, to Debian 13's tlsproxy and to ours; the same rules for
// both, then each session's tlsproxy lines compared.
func TestDeb13ServerRole(t *testing.T) {
	requireDeb13(t)
	clients := serverClients(deb13Rules(serverRoleRules))
	var logs deb13Logs
	t.Run("impls", func(t *testing.T) {
		for _, im := range deb13Impls {
			t.Run(im.name, func(t *testing.T) {
				t.Parallel()
				runClients(t, instanceFor(t, im, false), clients, func(client, seg string) {
					logs.set(im.name, client, tlsproxyLines(seg))
				})
			})
		}
	})
	var names []string
	for _, cl := range clients {
		names = append(names, cl.name)
	}
	logs.compare(t, "%s session", names...)
}

// deb13Logs gathers the tlsproxy lines of each session, normalized, by
// implementation and session, from parallel subtests.
type deb13Logs struct {
	mu    sync.Mutex
	lines map[string]string // impl/session → lines
}

func (l *deb13Logs) set(impl, session, lines string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines == nil {
		l.lines = map[string]string{}
	}
	l.lines[impl+"/"+session] = normalizeDeb13(lines)
}

// compare compares Debian 13's lines of each session with ours, a
// subtest each; what words a session's name for the messages.
func (l *deb13Logs) compare(t *testing.T, what string, sessions ...string) {
	for _, s := range sessions {
		t.Run("compare/"+s, func(t *testing.T) {
			deb, ours := l.lines["deb13-debian/"+s], l.lines["deb13-ours/"+s]
			if deb == "" || ours == "" {
				t.Skip("a session above failed; nothing to compare")
			}
			compareDeb13(t, fmt.Sprintf(what, s), deb, ours)
		})
	}
}

// TestDeb13ClientRoleReuse: TestClientRoleReuse's two messages to one
// destination through Debian 13's smtp(8) with connection reuse, over one
// tlsproxy session (Debian 13's, then ours) to Debian 13's smtpd, and to
// our close_notify-checking sink; then tlsproxy's lines compared.
func TestDeb13ClientRoleReuse(t *testing.T) {
	requireDeb13(t)
	// the group is compared with Debian 13's below
	established := strings.Replace(crEstablished, `key-exchange X25519`, `key-exchange \S+`, 1)
	if established == crEstablished {
		t.Fatal("crEstablished no longer names the key exchange as expected; update this test")
	}
	var logs deb13Logs
	t.Run("impls", func(t *testing.T) {
		for _, im := range deb13Impls {
			t.Run(im.name, func(t *testing.T) {
				t.Parallel()
				cr := clientRoleInstanceFor(t, im)
				t.Run("smtpd-sink", func(t *testing.T) {
					c := crCase{name: "sink.test", transport: "sinkrelay", host: "127.0.0.1", word: "Trusted"}
					_, seg := crReuseWith(t, cr, c, cr.sinkPort, established)
					logs.set(im.name, "smtpd-sink", crLinesFor(seg, cr.sinkPort, c.host))
				})
				t.Run("close-notify", func(t *testing.T) {
					c := crCase{name: "closesink", transport: "sinkrelay", host: "127.0.0.1", word: "Trusted"}
					_, seg := crReuseWith(t, cr, c, cr.closeSink.port, established)
					var s sinkSession
					select {
					case s = <-cr.closeSink.sessions:
					case <-time.After(15 * time.Second):
						t.Fatal("the sink's session did not end within 15s of tlsproxy's DISCONNECT")
					}
					if want := "EHLO STARTTLS EHLO MAIL RCPT DATA RSET MAIL RCPT DATA"; strings.Join(s.cmds, " ") != want {
						t.Errorf("the sink got %s, want %s", strings.Join(s.cmds, " "), want)
					}
					if s.end != endCloseNotify {
						t.Errorf("the TLS session to the sink ended with %s, want %s", s.end, endCloseNotify)
					}
					logs.set(im.name, "close-notify", crLinesFor(seg, cr.closeSink.port, c.host))
				})
			})
		}
	})
	logs.compare(t, "client role, %s", "smtpd-sink", "close-notify")
}

// TestDeb13Resumption: TestResumptionAcrossProcesses with Debian 13's
// tlsmgr(8) and postscreen(8): tickets and tlsmgr's session cache, TLS 1.3
// and 1.2, a session from one tlsproxy process resumed in another.
func TestDeb13Resumption(t *testing.T) {
	requireDeb13(t)
	testResumption(t, deb13Impls)
}

// TestDeb13ServerRoleVerboseLog: TestServerRoleVerboseLog's level-2 log
// comparison with Debian 13's tlsproxy as the reference.
func TestDeb13ServerRoleVerboseLog(t *testing.T) {
	requireDeb13(t)
	logs := verboseLogs(t, deb13Impls)
	checkVerboseWords(t, logs["deb13-ours"])
	compareDeb13(t, "level-2 server-role log", logs["deb13-debian"], logs["deb13-ours"])
}

// TestDeb13Deliberate: the difference by design turns our post-quantum
// summary into Debian 13's classical one and leaves Debian 13's lines
// (and ours without it) alone.
func TestDeb13Deliberate(t *testing.T) {
	const line = "Anonymous TLS connection established from [127.0.0.1]:PORT: TLSv1.3 with cipher CIPHER key-exchange %s server-signature RSA-PSS (2048 bits) server-digest SHA256\n"
	for _, tc := range []struct{ name, ours, want string }{
		{"post-quantum", fmt.Sprintf(line, "X25519MLKEM768"), fmt.Sprintf(line, "x25519")},
		{"classical", fmt.Sprintf(line, "x25519"), fmt.Sprintf(line, "x25519")},
		{"other group", fmt.Sprintf(line, "secp256r1"), fmt.Sprintf(line, "secp256r1")},
		{"other hybrid", fmt.Sprintf(line, "SecP256r1MLKEM768"), fmt.Sprintf(line, "SecP256r1MLKEM768")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.ours
			for _, k := range deb13Deliberate {
				got = k.fix(got)
			}
			if got != tc.want {
				t.Errorf("after the differences by design:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
