package tlsclient

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

// sharedStore stands in for tlsmgr's smtp cache: one map that several
// Clients (processes) use, filed by serverid, scope and crypto/tls key.
// It has no lmtp cache.
type sharedStore struct {
	mu      sync.Mutex
	entries map[string]*tls.ClientSessionState
	scopes  []string
}

func (s *sharedStore) Scoped(cacheType, serverid, scope string, log logs.Logger) tls.ClientSessionCache {
	if cacheType != "" && cacheType != "smtp" {
		return nil
	}
	s.mu.Lock()
	s.scopes = append(s.scopes, scope)
	s.mu.Unlock()
	return storeView{s, serverid + "\x00" + scope + "\x00", log}
}

type storeView struct {
	s      *sharedStore
	prefix string
	log    logs.Logger
}

func (v storeView) Get(key string) (*tls.ClientSessionState, bool) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	cs, ok := v.s.entries[v.prefix+key]
	if v.log != nil {
		v.log.Infof("lookup hit=%v", ok)
	}
	return cs, ok
}

func (v storeView) Put(key string, cs *tls.ClientSessionState) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.entries[v.prefix+key] = cs
}

// TestSharedSessionCache: with Settings.SessionCache, a session made by one
// Client resumes in another (as in another tlsproxy process), only under
// the same TLS settings; a resumed session reports the same verification
// result; cache activity is logged at the "cache" log level only; a cache
// type the shared cache does not serve (lmtp here) is not resumed at all,
// not even by the same process (Postfix has no cache of its own either),
// and neither is anything without a SessionCache.
func TestSharedSessionCache(t *testing.T) {
	f := newFixture(t)
	sc := f.certs["good"]
	cert, err := tls.X509KeyPair(sc.chain, sc.key)
	if err != nil {
		t.Fatal(err)
	}
	// One server configuration: its ticket keys stay the same throughout.
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	store := &sharedStore{entries: map[string]*tls.ClientSessionState{}}
	newClient := func(store SessionCache) *Client {
		c, err := New(Settings{CAfile: f.caFile, SessionCache: store}, logs.Lines(func(s string) { t.Errorf("warning: %s", s) }))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// One listener: without SNI, crypto/tls files sessions by address.
	ln := pftest.ListenTCP(t)
	defer ln.Close()
	connect := func(c *Client, st Start) (resumed bool, status int, log *recLog) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer conn.Close()
			tc := tls.Server(conn, srvCfg)
			if err = tc.Handshake(); err == nil {
				_, err = tc.Write([]byte("220 ok\r\n")) // makes the client read the TLS 1.3 ticket
				io.Copy(io.Discard, tc)
			}
			done <- err
		}()
		log = &recLog{}
		sess, err := c.NewSession(st, log)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, sess.Config())
		if _, err := io.ReadFull(tc, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		res := sess.Evaluate(tc.ConnectionState())
		tc.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return tc.ConnectionState().DidResume, res.PeerStatus, log
	}
	st := baseStart(LevelVerify)
	st.MatchNames = []string{"hostname"}
	otherHelo := st
	otherHelo.Helo = "other.example.com"
	verbose := st
	verbose.LogLevel = "cache"
	lmtp := st
	lmtp.CacheType = "lmtp"

	a, b, none := newClient(store), newClient(store), newClient(nil)
	for i, step := range []struct {
		name   string
		c      *Client
		st     Start
		resume bool
		logged bool
	}{
		{"first", a, st, false, false},
		{"other process", b, st, true, false},
		{"other helo", b, otherHelo, false, false},
		{"cache log level", a, verbose, true, true},
		// No shared lmtp cache: no resumption.
		{"lmtp", b, lmtp, false, false},
		{"lmtp, same process", b, lmtp, false, false},
		{"lmtp, other process", a, lmtp, false, false},
		// No session cache at all (no *_tls_session_cache_database).
		{"no cache", none, st, false, false},
		{"no cache, again", none, st, false, false},
	} {
		resumed, status, log := connect(step.c, step.st)
		if resumed != step.resume {
			t.Errorf("%d %s: resumed = %v, want %v", i, step.name, resumed, step.resume)
		}
		if status != verified {
			t.Errorf("%d %s: peer_status = %d, want %d", i, step.name, status, verified)
		}
		logged := strings.Contains(strings.Join(log.lines, "\n"), "mx.example.com[127.0.0.1]:25: lookup hit=true")
		if logged != step.logged {
			t.Errorf("%d %s: cache logged = %v, want %v: %q", i, step.name, logged, step.logged, log.lines)
		}
	}
	if len(store.scopes) != 4 || store.scopes[0] != store.scopes[1] || store.scopes[1] == store.scopes[2] {
		t.Errorf("scopes %s", fmt.Sprintf("%q", store.scopes))
	}
}
