package tlsmgr

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/attr"
)

// fakeTLSMgr is a stand-in tlsmgr(8) speaking attr0 (docs/tlsmgr.md): it
// announces itself (unless told not to), answers seed, policy, tktkey,
// lookup, update and delete, and can hang, drop connections or go away.
type fakeTLSMgr struct {
	t    *testing.T
	path string

	mu        sync.Mutex
	ln        *net.UnixListener
	conns     map[net.Conn]bool
	announce  bool
	late      bool          // announce only after the first request arrived
	hang      bool          // read requests, never answer
	dropNext  int           // close the connection instead of answering, this many times
	override  func() []byte // raw reply instead of the computed one, once per request
	timeout   int           // smtpd_tls_session_cache_timeout, seconds
	cachable  bool          // smtpd cache on
	smtpCache bool          // smtp cache on
	ops       []string      // "lookup smtpd <id>", ... as served, for cache tests
	keys      []*Key        // keys[0] is current
	cache     map[string][]byte
	accepts   int
	received  [][]byte // raw bytes per connection, in accept order
	sent      [][]byte // what the server wrote, per connection
	closedCh  chan struct{}
	wg        sync.WaitGroup
	unblockCh chan struct{}
}

func newFake(t *testing.T, announce bool) *fakeTLSMgr {
	t.Helper()
	dir := t.TempDir()
	f := &fakeTLSMgr{
		t: t, path: filepath.Join(dir, "tlsmgr"), announce: announce,
		timeout: 3600, cache: map[string][]byte{}, conns: map[net.Conn]bool{},
		closedCh: make(chan struct{}, 100), unblockCh: make(chan struct{}),
		keys: []*Key{testKey(1, time.Unix(1_700_000_000, 0))},
	}
	f.start()
	t.Cleanup(f.stop)
	return f
}

// testKey is a deterministic key whose bytes all derive from id.
func testKey(id byte, expires time.Time) *Key {
	k := &Key{Cipher: bytes.Repeat([]byte{id + 1}, 32), HMAC: bytes.Repeat([]byte{id + 2}, 32), Expires: expires}
	for i := range k.Name {
		k.Name[i] = id
	}
	return k
}

func (f *fakeTLSMgr) start() {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: f.path, Net: "unix"})
	if err != nil {
		f.t.Fatal(err)
	}
	ln.SetUnlinkOnClose(true)
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.accepts++
			idx := len(f.received)
			f.received = append(f.received, nil)
			f.sent = append(f.sent, nil)
			f.conns[c] = true
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c, idx)
			}()
		}
	}()
}

// ensureRunning starts the server again if stop ended it.
func (f *fakeTLSMgr) ensureRunning() {
	f.mu.Lock()
	running := f.ln != nil
	f.mu.Unlock()
	if !running {
		f.start()
	}
}

// stop closes the listener and every connection ("tlsmgr is down").
func (f *fakeTLSMgr) stop() {
	f.mu.Lock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
	if f.unblockCh != nil {
		close(f.unblockCh)
		f.unblockCh = nil
	}
	f.mu.Unlock()
	f.wg.Wait()
	f.mu.Lock()
	f.unblockCh = make(chan struct{})
	f.mu.Unlock()
}

// recorder appends what the client sent to f.received[idx].
type recorder struct {
	f   *fakeTLSMgr
	idx int
	c   net.Conn
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.f.mu.Lock()
	r.f.received[r.idx] = append(r.f.received[r.idx], p[:n]...)
	r.f.mu.Unlock()
	return n, err
}

func (f *fakeTLSMgr) serve(c net.Conn, idx int) {
	defer func() {
		c.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		select {
		case f.closedCh <- struct{}{}:
		default:
		}
	}()
	f.mu.Lock()
	announce, late := f.announce, f.late
	f.mu.Unlock()
	hello := attr.AppendList(nil, attr.List{attr.Str("protocol", ProtocolName)})
	if announce && !late {
		if !f.write(c, idx, hello) {
			return
		}
	}
	rd := attr.NewReader(recorder{f, idx, c})
	for {
		req, err := rd.ReadList()
		if err != nil {
			return
		}
		f.mu.Lock()
		hang, unblock := f.hang, f.unblockCh
		drop := f.dropNext > 0
		if drop {
			f.dropNext--
		}
		var out []byte
		if f.override != nil {
			out = f.override()
		} else {
			out = attr.AppendList(nil, f.answer(req))
		}
		f.mu.Unlock()
		if hang {
			<-unblock
			return
		}
		if drop {
			return
		}
		if announce && late {
			out = append(hello, out...)
			late = false
		}
		if !f.write(c, idx, out) {
			return
		}
	}
}

func (f *fakeTLSMgr) write(c net.Conn, idx int, b []byte) bool {
	f.mu.Lock()
	f.sent[idx] = append(f.sent[idx], b...)
	f.mu.Unlock()
	_, err := c.Write(b)
	return err == nil
}

// answer computes the reply the way tlsmgr(8) does; f.mu is held.
func (f *fakeTLSMgr) answer(req attr.List) attr.List {
	fail := attr.List{attr.Int("status", StatusFail)}
	v, _ := req.Get("request")
	cacheOK := func() bool {
		ct, _ := req.Get("cache_type")
		id, _ := req.Get("cache_id")
		f.ops = append(f.ops, v+" "+ct+" "+id)
		return (ct == CacheSMTPD && f.cachable) || (ct == CacheSMTP && f.smtpCache)
	}
	switch v {
	case "seed":
		if req.Expect("", "request", "size") != nil {
			return fail
		}
		n, err := attr.ParseInt(req[1].Value)
		if err != nil || n < 1 || n > 255 {
			return attr.List{attr.Int("status", StatusFail), attr.Data("seed", nil)}
		}
		seed := make([]byte, n)
		for i := range seed {
			seed[i] = byte(i)
		}
		return attr.List{attr.Int("status", StatusOK), attr.Data("seed", seed)}
	case "policy":
		if req.Expect("", "request", "cache_type") != nil {
			return fail
		}
		switch req[1].Value {
		case CacheSMTPD, CacheSMTP, CacheLMTP:
		default:
			return attr.List{attr.Int("status", StatusFail), attr.Int("cachable", 0), attr.Int("timeout", 0)}
		}
		cachable := 0
		if (req[1].Value == CacheSMTPD && f.cachable) || (req[1].Value == CacheSMTP && f.smtpCache) {
			cachable = 1
		}
		return attr.List{attr.Int("status", StatusOK), attr.Int("cachable", cachable), attr.Int("timeout", f.timeout)}
	case "tktkey":
		if req.Expect("", "request", "keyname") != nil {
			return fail
		}
		name, err := attr.ParseData(req[1].Value)
		if err != nil || (len(name) != 0 && len(name) != KeyNameSize) {
			return attr.List{attr.Int("status", StatusFail), attr.Data("keybuf", nil)}
		}
		notFound := attr.List{attr.Int("status", StatusErr), attr.Data("keybuf", nil)}
		if f.timeout <= 0 || len(f.keys) == 0 {
			return notFound
		}
		if len(name) == 0 {
			return attr.List{attr.Int("status", StatusOK), attr.Data("keybuf", f.keys[0].Bytes())}
		}
		for _, k := range f.keys {
			if bytes.Equal(k.Name[:], name) {
				return attr.List{attr.Int("status", StatusOK), attr.Data("keybuf", k.Bytes())}
			}
		}
		return notFound
	case "lookup":
		if req.Expect("", "request", "cache_type", "cache_id") != nil || !cacheOK() {
			return attr.List{attr.Int("status", StatusFail), attr.Data("session", nil)}
		}
		s, ok := f.cache[req[2].Value]
		if !ok {
			return attr.List{attr.Int("status", StatusErr), attr.Data("session", nil)}
		}
		return attr.List{attr.Int("status", StatusOK), attr.Data("session", s)}
	case "update":
		if req.Expect("", "request", "cache_type", "cache_id", "session") != nil || !cacheOK() {
			return fail
		}
		s, err := attr.ParseData(req[3].Value)
		if err != nil {
			return fail
		}
		f.cache[req[2].Value] = s
		return attr.List{attr.Int("status", StatusOK)}
	case "delete":
		if req.Expect("", "request", "cache_type", "cache_id") != nil || !cacheOK() {
			return fail
		}
		if _, ok := f.cache[req[2].Value]; !ok {
			return attr.List{attr.Int("status", StatusErr)}
		}
		delete(f.cache, req[2].Value)
		return attr.List{attr.Int("status", StatusOK)}
	}
	return fail
}

func (f *fakeTLSMgr) set(fn func(f *fakeTLSMgr)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeTLSMgr) acceptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepts
}

// takeOps returns and forgets the cache requests served so far.
func (f *fakeTLSMgr) takeOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

// conversation returns what the client sent and what the server wrote on
// connection i.
func (f *fakeTLSMgr) conversation(i int) (got, sent []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.received[i]...), append([]byte(nil), f.sent[i]...)
}

// fakeClock is a settable Now for idle and TTL checks.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waitClosed waits (bounded) until the server saw a connection end.
func (f *fakeTLSMgr) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-f.closedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("server never saw the connection close")
	}
}

// warnings collects log lines, of every severity (a logs.Logger).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Infof(format string, a ...any)  { w.warnf(format, a...) }
func (w *warnings) Warnf(format string, a ...any)  { w.warnf(format, a...) }
func (w *warnings) Errorf(format string, a ...any) { w.warnf(format, a...) }
func (w *warnings) Fatalf(format string, a ...any) { w.warnf(format, a...) }

func (w *warnings) warnf(format string, a ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprintf(format, a...))
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// text returns the messages one a line.
func (w *warnings) text() string { return strings.Join(w.list(), "\n") }
