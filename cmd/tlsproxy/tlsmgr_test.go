package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// policyTLSMgr serves private/tlsmgr in the current directory, answering
// seed, and policy with the given cachable flags (by cache type) and
// timeout; policy fails (status -2) when timeout is -1, and answers as
// Postfix 2.8 - 2.10 do, without a timeout, when it is oldTLSMgr.
func policyTLSMgr(t *testing.T, cachable map[string]bool, timeout int) {
	t.Helper()
	if err := os.Mkdir("private", 0o755); err != nil {
		t.Fatal(err)
	}
	serveTLSMgr(t, "private/tlsmgr", false, oldOr(t, func(req string, l attr.List) attr.List {
		switch {
		case req == "seed":
			return attr.List{attr.Int("status", 0), attr.Data("seed", make([]byte, 32))}
		case req == "policy" && timeout >= 0:
			ct, _ := l.Get("cache_type")
			return attr.List{attr.Int("status", 0), attr.Int("cachable", policyFlag(cachable[ct])), attr.Int("timeout", timeout)}
		}
		return attr.List{attr.Int("status", -2)}
	}, timeout == oldTLSMgr, cachable))
}

// oldTLSMgr as policyTLSMgr's timeout: a tlsmgr of Postfix 2.8 - 2.10.
const oldTLSMgr = -2

// oldOr returns answer, or, when old, the answers of Postfix 2.8's
// tlsmgr: a policy reply without timeout, and a test failure for a
// tktkey request, which that tlsmgr does not know.
func oldOr(t *testing.T, answer func(string, attr.List) attr.List, old bool, cachable map[string]bool) func(string, attr.List) attr.List {
	if !old {
		return answer
	}
	return func(req string, l attr.List) attr.List {
		switch req {
		case "policy":
			ct, _ := l.Get("cache_type")
			return attr.List{attr.Int("status", 0), attr.Int("cachable", policyFlag(cachable[ct]))}
		case "tktkey":
			t.Errorf("tktkey request sent to a tlsmgr that has none")
			return attr.List{attr.Int("status", -2)}
		}
		return answer(req, l)
	}
}

func policyFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSessionResumptionModes: which resumption each role gets from
// tls_session_ticket_cipher and tlsmgr's cache policies, as Postfix
// decides (tickets unless the cipher is empty; then the cache if tlsmgr
// has one; nothing with a timeout of 0 or a failed policy request).
func TestSessionResumptionModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mainCF   string
		cachable map[string]bool
		timeout  int
		server   tlsmgr.Mode
		client   string // the client role's tlsmgr caches, by type
		warning  string // the one warning expected, if any
	}{
		{"defaults", "", nil, 3600, tlsmgr.ModeStateless, "", ""},
		{"tickets and smtpd cache", "", map[string]bool{"smtpd": true}, 3600, tlsmgr.ModeStateless, "", ""},
		{"no ticket cipher, smtpd cache", "tls_session_ticket_cipher =\n", map[string]bool{"smtpd": true}, 3600, tlsmgr.ModeStateful, "", ""},
		{"no ticket cipher, no cache", "tls_session_ticket_cipher =\n", nil, 3600, tlsmgr.ModeOff, "", ""},
		{"cache timeout 0", "tls_session_ticket_cipher =\n", map[string]bool{"smtpd": true, "smtp": true}, 0, tlsmgr.ModeOff, "", ""},
		{"policy fails", "", nil, -1, tlsmgr.ModeOff, "", ""},
		{"Postfix 2.8 tlsmgr: tickets with keys of our own", "", nil, oldTLSMgr, tlsmgr.ModeStateless, "", ""},
		{"Postfix 2.8 tlsmgr with a cache", "", map[string]bool{"smtpd": true}, oldTLSMgr, tlsmgr.ModeStateless, "", ""},
		{"Postfix 2.8 tlsmgr, a ticket cipher Postfix would refuse", "tls_session_ticket_cipher = bogus\n", nil, oldTLSMgr, tlsmgr.ModeStateless, "", ""},
		{"smtp cache", "", map[string]bool{"smtp": true}, 3600, tlsmgr.ModeStateless, "smtp", ""},
		{"lmtp cache", "", map[string]bool{"lmtp": true}, 3600, tlsmgr.ModeStateless, "lmtp", ""},
		{"smtp and lmtp caches", "", map[string]bool{"smtp": true, "lmtp": true}, 3600, tlsmgr.ModeStateless, "lmtp smtp", ""},
		{"other ticket cipher", "tls_session_ticket_cipher = CAMELLIA-128-CBC\n", nil, 3600, tlsmgr.ModeStateless, "", ""},
		{"invalid ticket cipher, smtpd cache", "tls_session_ticket_cipher = aes-256-gcm\n", map[string]bool{"smtpd": true}, 3600, tlsmgr.ModeStateful, "",
			"tls_session_ticket_cipher: invalid value: aes-256-gcm; session tickets disabled"},
		{"invalid ticket cipher, no cache", "tls_session_ticket_cipher = bogus\n", nil, 3600, tlsmgr.ModeOff, "",
			"tls_session_ticket_cipher: invalid value: bogus; session tickets disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			policyTLSMgr(t, tc.cachable, tc.timeout)
			cfg, err := conf.Parse("main.cf", strings.NewReader(tc.mainCF), logs.Lines(func(w string) { t.Errorf("conf: %s", w) }))
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			warn := func(w string) { warnings = append(warnings, w) }
			tk, err := tlsmgrSetup(cfg, &tlspolicy.Server{Enabled: true}, logs.Lines(warn))
			if got := strings.Join(warnings, "\n"); got != tc.warning {
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
			warn = func(w string) { t.Errorf("warning: %s", w) }
			if err != nil || tk == nil {
				t.Fatalf("tlsmgrSetup = %v, %v", tk, err)
			}
			if tk.Mode() != tc.server {
				t.Errorf("server role: %v, want %v", tk.Mode(), tc.server)
			}
			cache, ok, err := clientSessionCache(cfg, logs.Lines(warn))
			if err != nil || !ok {
				t.Fatalf("clientSessionCache: %v %v", ok, err)
			}
			var types []string
			if cc, isMap := cache.(clientCaches); isMap {
				for ct := range cc {
					types = append(types, ct)
				}
				slices.Sort(types)
			} else if cache != nil {
				t.Fatalf("client role cache %T", cache)
			}
			if got := strings.Join(types, " "); got != tc.client {
				t.Errorf("client role tlsmgr caches %q, want %q", got, tc.client)
			}
			// A request's cache_type picks its cache; "" is smtp.
			for _, ct := range []string{"", "smtp", "lmtp"} {
				want := tc.cachable[ct] || (ct == "" && tc.cachable["smtp"])
				if tc.timeout <= 0 {
					want = false
				}
				if got := cache != nil && cache.Scoped(ct, "sid", "scope", nil) != nil; got != want {
					t.Errorf("cache_type %q: tlsmgr cache %v, want %v", ct, got, want)
				}
			}
		})
	}
}

// TestClientRoleWithoutTLSMgr: as in Postfix, no seed from tlsmgr turns
// the client role off.
func TestClientRoleWithoutTLSMgr(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := conf.Parse("main.cf", strings.NewReader("smtp_tls_security_level = may\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	c, err := clientRole(cfg, logs.Lines(func(w string) { warnings = append(warnings, w) }))
	if err != nil || c.client != nil || c.newClient != nil {
		t.Fatalf("clientRole = %+v, %v; want a client role that cannot serve", c, err)
	}
	if got := strings.Join(warnings, "\n"); !strings.Contains(got, "no entropy for TLS key generation: disabling TLS support") {
		t.Errorf("warnings %q", warnings)
	}
}

// TestDaemonOldTLSMgrResumes: with the tlsmgr of Postfix 2.8 - 2.10 (no
// ticket keys, no timeout in its policy reply), the remote client's second
// session resumes from a ticket sealed with the process's own keys, as
// those releases' tlsproxy (OpenSSL) does, and tlsmgr is never asked for
// a key.
func TestDaemonOldTLSMgrResumes(t *testing.T) {
	in := newInstance(t, "tlsmgr_service_name = oldmgr\n")
	serveTLSMgr(t, filepath.Join(in.queueDir, "private", "oldmgr"), false, oldOr(t, func(req string, l attr.List) attr.List {
		if req == "seed" {
			return attr.List{attr.Int("status", 0), attr.Data("seed", make([]byte, 32))}
		}
		return attr.List{attr.Int("status", -2)}
	}, true, nil))
	m := in.start(t, "-z", "-t", "unix", "-V")
	cache := tls.NewLRUClientSessionCache(4)
	if cs := in.sessionWith(t, cache); cs.DidResume {
		t.Fatal("the first session resumed")
	}
	if cs := in.sessionWith(t, cache); !cs.DidResume {
		t.Error("the second session did not resume")
	}
	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	if code, err := m.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
	if strings.Contains(m.Stderr(), "ticket") {
		t.Errorf("stderr mentions tickets:\n%s", m.Stderr())
	}
}
