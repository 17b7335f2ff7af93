package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/logs"
)

// cacheKeys lists the ids in the fake's cache.
func cacheKeys(f *fakeTLSMgr) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.cache))
}

// TestStatefulResumption does real handshakes: the first connection goes
// to one "process" (own tlsmgr client, own Tickets, own tls.Config) with
// tickets off and the smtpd cache on, the second to another.
func TestStatefulResumption(t *testing.T) {
	cert := selfSigned(t)
	type tc struct {
		name        string
		scopeB      string
		clientCert  bool
		requireCert bool
		between     func(t *testing.T, f *fakeTLSMgr, clk *fakeClock)
		resume      bool
		keepFirst   bool   // the first session's entry is still cached afterwards
		log         string // in process B's cache log
	}
	cases := []tc{
		{name: "resumes", scopeB: "smtpd|p1", resume: true, keepFirst: true, log: "resuming session"},
		{name: "other policy", scopeB: "smtpd|p2", keepFirst: true, log: "another server or TLS policy"},
		{name: "other server", scopeB: "postscreen|p1", keepFirst: true, log: "not found"},
		{name: "expired", scopeB: "smtpd|p1", log: "has expired",
			between: func(t *testing.T, f *fakeTLSMgr, clk *fakeClock) { clk.advance(time.Hour + time.Second) }},
		{name: "tlsmgr down", scopeB: "smtpd|p1", keepFirst: true, log: "lookup of session",
			between: func(t *testing.T, f *fakeTLSMgr, clk *fakeClock) { f.stop() }},
		{name: "corrupt entry", scopeB: "smtpd|p1", log: "unusable entry",
			between: func(t *testing.T, f *fakeTLSMgr, clk *fakeClock) {
				f.set(func(f *fakeTLSMgr) {
					for id := range f.cache {
						f.cache[id] = []byte("go1s garbage")
					}
				})
			}},
		{name: "corrupt session state", scopeB: "smtpd|p1", log: "unusable entry",
			between: func(t *testing.T, f *fakeTLSMgr, clk *fakeClock) {
				f.set(func(f *fakeTLSMgr) {
					for id, v := range f.cache {
						f.cache[id] = v[:len(v)-5]
					}
				})
			}},
		{name: "certificate required, none given", scopeB: "smtpd|p1", requireCert: true, keepFirst: true, log: "client certificate"},
		{name: "certificate required and given", scopeB: "smtpd|p1", requireCert: true, clientCert: true, resume: true, keepFirst: true},
	}
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", tls.VersionName(version), c.name), func(t *testing.T) {
				f := newFake(t, true)
				f.set(func(f *fakeTLSMgr) { f.cachable = true; f.keys = nil })
				clk := &fakeClock{now: time.Now()}
				var logB warnings
				server := func(scope string, log *warnings) *tls.Config {
					cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
						MinVersion: version, MaxVersion: version}
					opts := TicketOptions{
						Lifetime: time.Hour, Now: clk.Now,
						Cache: mustClient(t, f.path, fastOpts(nil)),
						Accept: func(_ string, _ tls.ConnectionState, info SessionInfo) bool {
							return !c.requireCert || info.ClientCert
						},
					}
					if log != nil {
						opts.Log, opts.LogCache = log, true
					}
					NewTickets(nil, opts).Install(cfg, scope, nil)
					return cfg
				}
				client := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
					ClientSessionCache: tls.NewLRUClientSessionCache(4), MinVersion: version, MaxVersion: version}
				if c.clientCert {
					client.Certificates = []tls.Certificate{selfSigned(t)}
				}
				if handshake(t, server("smtpd|p1", nil), client) {
					t.Fatal("first connection resumed")
				}
				first := cacheKeys(f)
				if len(first) != 1 || !strings.HasSuffix(first[0], "&s=smtpd&l=go1") || len(first[0]) != 64+len("&s=smtpd&l=go1") {
					t.Fatalf("cache after the first handshake: %q", first)
				}
				if c.between != nil {
					c.between(t, f, clk)
				}
				if got := handshake(t, server(c.scopeB, &logB), client); got != c.resume {
					t.Errorf("resumed = %v, want %v", got, c.resume)
				}
				f.ensureRunning()
				if kept := slices.Contains(cacheKeys(f), first[0]); kept != c.keepFirst {
					t.Errorf("first entry still cached = %v, want %v", kept, c.keepFirst)
				}
				if !strings.Contains(logB.text(), c.log) {
					t.Errorf("log lacks %q:\n%s", c.log, logB.text())
				}
			})
		}
	}
}

// TestStatefulNoTLSMgr: with tlsmgr down from the start, handshakes
// succeed, nothing resumes, and tlsmgr is asked once per back-off only.
func TestStatefulNoTLSMgr(t *testing.T) {
	f := newFake(t, true)
	f.stop()
	var w warnings
	clk := &fakeClock{now: epoch}
	tk := NewTickets(nil, TicketOptions{Lifetime: time.Hour, Now: clk.Now, Log: &w,
		Cache: mustClient(t, f.path, fastOpts(nil))})
	id, err := tk.Wrap("s|p", tls.ConnectionState{}, testState(t, 1))
	if err != nil || len(id) != identitySize {
		t.Fatalf("Wrap = %x, %v", id, err)
	}
	for range 3 {
		if ss, err := tk.Unwrap("s|p", id, tls.ConnectionState{}); ss != nil || err != nil {
			t.Fatalf("Unwrap = %v, %v", ss, err)
		}
	}
	if n := len(w.list()); n != 1 {
		t.Errorf("%d warnings, want 1 (back-off): %q", n, w.list())
	}
	f.start()
	clk.advance(DefaultBackoff)
	f.set(func(f *fakeTLSMgr) { f.cachable = true })
	id, _ = tk.Wrap("s|p", tls.ConnectionState{}, testState(t, 2))
	if ss, _ := tk.Unwrap("s|p", id, tls.ConnectionState{}); ss == nil {
		t.Error("no resumption after tlsmgr came back")
	}
}

// TestStatefulRequests pins the requests one session makes.
func TestStatefulRequests(t *testing.T) {
	f := newFake(t, true)
	f.set(func(f *fakeTLSMgr) { f.cachable = true })
	tk := NewTickets(nil, TicketOptions{Lifetime: time.Hour, Cache: mustClient(t, f.path, fastOpts(nil))})
	ss := testState(t, 3)
	id, _ := tk.Wrap("smtpd|abc", tls.ConnectionState{}, ss)
	got, _ := tk.Unwrap("smtpd|abc", id, tls.ConnectionState{})
	if got == nil || !bytes.Equal(stateBytes(t, got), stateBytes(t, ss)) {
		t.Fatal("session did not come back")
	}
	tk.Unwrap("smtpd|abc", bytes.Repeat([]byte{1}, 48), tls.ConnectionState{}) // stateless-sized: not asked
	cid := fmt.Sprintf("%x&s=smtpd&l=go1", id)
	want := []string{"update smtpd " + cid, "lookup smtpd " + cid}
	if ops := f.takeOps(); !slices.Equal(ops, want) {
		t.Errorf("requests %q, want %q", ops, want)
	}
}

// TestInstallModes: Install keeps tickets on in the stateful mode and
// turns them off with Lifetime 0 either way.
func TestInstallModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     TicketOptions
		mode     Mode
		disabled bool
	}{
		{"stateless", TicketOptions{Lifetime: time.Hour}, ModeStateless, false},
		{"stateful", TicketOptions{Lifetime: time.Hour, Cache: &Client{}}, ModeStateful, false},
		{"stateful, timeout 0", TicketOptions{Cache: &Client{}}, ModeOff, true},
	} {
		cfg := &tls.Config{}
		tk := NewTickets(nil, tc.opts)
		if tk.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.name, tk.Mode(), tc.mode)
		}
		tk.Install(cfg, "s", nil)
		if cfg.SessionTicketsDisabled != tc.disabled || (cfg.WrapSession == nil) != tc.disabled {
			t.Errorf("%s: disabled = %v, want %v", tc.name, cfg.SessionTicketsDisabled, tc.disabled)
		}
	}
}

// TestClientCache resumes a client session across two client "processes"
// (each its own tlsmgr client and ClientCache) against one TLS server.
func TestClientCache(t *testing.T) {
	cert := selfSigned(t)
	type tc struct {
		name    string
		scopeB  string
		between func(f *fakeTLSMgr, clk *fakeClock)
		resume  bool
		deleted bool // the first session's entry was deleted
		log     string
	}
	cases := []tc{
		{name: "resumes", scopeB: "p1", resume: true, log: "found a session"},
		{name: "other scope", scopeB: "p2", log: "no session"},
		{name: "expired", scopeB: "p1", deleted: true, log: "has expired",
			between: func(f *fakeTLSMgr, clk *fakeClock) { clk.advance(time.Hour + time.Second) }},
		{name: "corrupt entry", scopeB: "p1", deleted: true, log: "unusable entry",
			between: func(f *fakeTLSMgr, clk *fakeClock) {
				f.set(func(f *fakeTLSMgr) {
					for id := range f.cache {
						f.cache[id] = []byte("go1c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01xy")
					}
				})
			}},
		{name: "tlsmgr down", scopeB: "p1", log: "lookup for",
			between: func(f *fakeTLSMgr, clk *fakeClock) { f.stop() }},
	}
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", tls.VersionName(version), c.name), func(t *testing.T) {
				f := newFake(t, true)
				f.set(func(f *fakeTLSMgr) { f.smtpCache = true })
				clk := &fakeClock{now: time.Now()}
				serverCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
				var logB warnings
				client := func(scope string, log logs.Logger) *tls.Config {
					cc := NewClientCache(mustClient(t, f.path, fastOpts(nil)), ClientCacheOptions{Lifetime: time.Hour, Now: clk.Now})
					return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
						ClientSessionCache: cc.Scoped("smtp:127.0.0.1:25", scope, log),
						MinVersion:         version, MaxVersion: version}
				}
				if handshake(t, serverCfg, client("p1", nil)) {
					t.Fatal("first connection resumed")
				}
				first := cacheKeys(f)
				if len(first) != 1 || !strings.HasPrefix(first[0], "smtp:127.0.0.1:25&go1-") {
					t.Fatalf("cache after the first handshake: %q", first)
				}
				if c.between != nil {
					c.between(f, clk)
				}
				if got := handshake(t, serverCfg, client(c.scopeB, &logB)); got != c.resume {
					t.Errorf("resumed = %v, want %v", got, c.resume)
				}
				// The id is the same for every session of this scope: a
				// new session replaces the old one; look for the delete.
				if deleted := slices.Contains(f.takeOps(), "delete smtp "+first[0]); deleted != c.deleted {
					t.Errorf("first entry deleted = %v, want %v", deleted, c.deleted)
				}
				if !strings.Contains(logB.text(), c.log) {
					t.Errorf("log lacks %q:\n%s", c.log, logB.text())
				}
			})
		}
	}
}

// TestClientCachePutNil: crypto/tls's Put(key, nil) deletes the entry.
func TestClientCachePutNil(t *testing.T) {
	f := newFake(t, true)
	f.set(func(f *fakeTLSMgr) {
		f.smtpCache = true
		f.cache[ClientCacheID("sid", "sc", "localhost")] = []byte("x")
	})
	NewClientCache(mustClient(t, f.path, fastOpts(nil)), ClientCacheOptions{Lifetime: time.Hour}).
		Scoped("sid", "sc", nil).Put("localhost", nil)
	if keys := cacheKeys(f); len(keys) != 0 {
		t.Errorf("cache after Put(nil): %q", keys)
	}
}

// TestCacheIDs pins the id formats: Postfix's own ids end in a decimal
// OpenSSL version (smtpd) or are serverid "&" hex digest (smtp).
func TestCacheIDs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ServerCacheID([]byte{0xab, 0x01}, "smtpd"), "ab01&s=smtpd&l=go1"},
		{ServerCacheID(nil, serverIDOf("a|b|c0ffee")), "&s=a|b&l=go1"},
		{ClientCacheID("smtp:[192.0.2.1]:25", "s", "k")[:len("smtp:[192.0.2.1]:25&go1-")], "smtp:[192.0.2.1]:25&go1-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if a, b := ClientCacheID("x", "s", "k"), ClientCacheID("x", "s\x00k", ""); a == b {
		t.Error("scope and key are not separated")
	}
}

// TestEntryFormats: round trips, and damaged entries are refused.
func TestEntryFormats(t *testing.T) {
	issued := time.Unix(1_700_000_000, 0)
	se := serverEntry{info: SessionInfo{ClientCert: true, Issued: issued}, scope: "smtpd|ab", state: []byte{1, 2, 3}}
	sb, err := se.append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "go1s\x01\x00\x00\x00\x00\x65\x53\xf1\x00\x00\x08smtpd|ab\x01\x02\x03"; string(sb) != want {
		t.Errorf("server entry %q, want %q", sb, want)
	}
	ce := clientEntry{issued: issued, ticket: []byte("tkt"), state: []byte{9}}
	cb, err := ce.append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "go1c\x00\x00\x00\x00\x65\x53\xf1\x00\x00\x03tkt\x09"; string(cb) != want {
		t.Errorf("client entry %q, want %q", cb, want)
	}
	if got, err := parseServerEntry(sb); err != nil || got.scope != se.scope || !got.info.Issued.Equal(issued) ||
		!got.info.ClientCert || !bytes.Equal(got.state, se.state) {
		t.Errorf("parseServerEntry = %+v, %v", got, err)
	}
	if got, err := parseClientEntry(cb); err != nil || !bytes.Equal(got.ticket, ce.ticket) || !bytes.Equal(got.state, ce.state) {
		t.Errorf("parseClientEntry = %+v, %v", got, err)
	}
	for _, bad := range []struct {
		name string
		b    []byte
	}{
		{"server, no state", sb[:len(sb)-3]},
		{"server, unknown flag", append([]byte("go1s\x02"), sb[5:]...)},
		{"server, short", sb[:10]},
		{"OpenSSL DER", []byte{0x30, 0x82, 0x01, 0x00}},
		{"client as server", cb},
	} {
		if _, err := parseServerEntry(bad.b); err == nil {
			t.Errorf("%s: parsed", bad.name)
		}
	}
	for _, bad := range [][]byte{cb[:len(cb)-1], cb[:12], sb, nil} {
		if _, err := parseClientEntry(bad); err == nil {
			t.Errorf("client entry %q parsed", bad)
		}
	}
	if _, err := (serverEntry{scope: "x"}).append(nil); err == nil {
		t.Error("empty state encoded")
	}
}
