package tlsmgr

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

func fastOpts(w *warnings) Options {
	o := Options{Timeout: 2 * time.Second, RetryDelay: 10 * time.Millisecond}
	if w != nil {
		o.Log = w
	}
	return o
}

func mustClient(t *testing.T, path string, o Options) *Client {
	t.Helper()
	c := New(path, o)
	t.Cleanup(func() { c.Close() })
	return c
}

// show makes NULs visible for the golden file.
func show(b []byte) string { return strings.ReplaceAll(string(b), "\x00", `\0`) }

func result(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprint(v)
}

// TestRequestGolden checks each request's bytes (docs/tlsmgr.md, "The
// conversation") and
// records the whole exchange (announcement, request, reply, decoded result)
// in testdata/exchanges.golden.
func TestRequestGolden(t *testing.T) {
	name01 := bytes.Repeat([]byte{1}, KeyNameSize)
	tktkeyHex := "72 65 71 75 65 73 74 00 74 6b 74 6b 65 79 00 6b 65 79 6e 61 6d 65 00 00 00" // as tlsproxy 3.7.11 sends it
	tktkeyCurrent, _ := hex.DecodeString(strings.ReplaceAll(tktkeyHex, " ", ""))
	cases := []struct {
		name    string
		setup   func(f *fakeTLSMgr)
		call    func(c *Client) string
		wantReq string
	}{
		{"seed", nil, func(c *Client) string { return result(c.Seed(32)) },
			"request\x00seed\x00size\x0032\x00\x00"},
		{"policy smtpd", nil, func(c *Client) string { return result3(c.Policy(CacheSMTPD)) },
			"request\x00policy\x00cache_type\x00smtpd\x00\x00"},
		{"policy smtp, only smtpd cache on", func(f *fakeTLSMgr) { f.cachable = true }, func(c *Client) string { return result3(c.Policy(CacheSMTP)) },
			"request\x00policy\x00cache_type\x00smtp\x00\x00"},
		{"policy smtpd cachable", func(f *fakeTLSMgr) { f.cachable = true }, func(c *Client) string { return result3(c.Policy(CacheSMTPD)) },
			"request\x00policy\x00cache_type\x00smtpd\x00\x00"},
		{"policy unknown type", nil, func(c *Client) string { return result3(c.Policy("bogus")) },
			"request\x00policy\x00cache_type\x00bogus\x00\x00"},
		{"tktkey current", nil, func(c *Client) string { return keyResult(c.TicketKey(nil)) },
			string(tktkeyCurrent)},
		{"tktkey by name", nil, func(c *Client) string { return keyResult(c.TicketKey(name01)) },
			"request\x00tktkey\x00keyname\x00AQEBAQEBAQEBAQEBAQEBAQ==\x00\x00"},
		{"tktkey unknown name", nil, func(c *Client) string { return keyResult(c.TicketKey(bytes.Repeat([]byte{9}, 16))) },
			"request\x00tktkey\x00keyname\x00CQkJCQkJCQkJCQkJCQkJCQ==\x00\x00"},
		{"tktkey tickets off", func(f *fakeTLSMgr) { f.timeout = 0 }, func(c *Client) string { return keyResult(c.TicketKey(nil)) },
			"request\x00tktkey\x00keyname\x00\x00\x00"},
		{"lookup miss", func(f *fakeTLSMgr) { f.cachable = true }, func(c *Client) string { return result(c.Lookup(CacheSMTPD, "abc&s=x")) },
			"request\x00lookup\x00cache_type\x00smtpd\x00cache_id\x00abc&s=x\x00\x00"},
		{"lookup hit", func(f *fakeTLSMgr) { f.cachable = true; f.cache["id"] = []byte("DER") }, func(c *Client) string { return result(c.Lookup(CacheSMTPD, "id")) },
			"request\x00lookup\x00cache_type\x00smtpd\x00cache_id\x00id\x00\x00"},
		{"lookup cache off", nil, func(c *Client) string { return result(c.Lookup(CacheSMTPD, "id")) },
			"request\x00lookup\x00cache_type\x00smtpd\x00cache_id\x00id\x00\x00"},
		{"update", func(f *fakeTLSMgr) { f.cachable = true }, func(c *Client) string { return result(nil, c.Update(CacheSMTPD, "id", []byte("DER"))) },
			"request\x00update\x00cache_type\x00smtpd\x00cache_id\x00id\x00session\x00REVS\x00\x00"},
		{"delete", func(f *fakeTLSMgr) { f.cachable = true; f.cache["id"] = nil }, func(c *Client) string { return result(nil, c.Delete(CacheSMTPD, "id")) },
			"request\x00delete\x00cache_type\x00smtpd\x00cache_id\x00id\x00\x00"},
		{"delete miss", func(f *fakeTLSMgr) { f.cachable = true }, func(c *Client) string { return result(nil, c.Delete(CacheSMTPD, "id")) },
			"request\x00delete\x00cache_type\x00smtpd\x00cache_id\x00id\x00\x00"},
	}
	var golden strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, true)
			if tc.setup != nil {
				f.set(tc.setup)
			}
			c := mustClient(t, f.path, fastOpts(nil))
			res := tc.call(c)
			got, sent := f.conversation(0)
			if string(got) != tc.wantReq {
				t.Errorf("request bytes\n got %q\nwant %q", got, tc.wantReq)
			}
			fmt.Fprintf(&golden, "== %s\nC: %s\nS: %s\n=> %s\n\n", tc.name, show(got), show(sent), res)
		})
	}
	pftest.Golden(t, "exchanges.golden", golden.String(), *pftest.Update)
}

func result3(ok bool, d time.Duration, err error) string {
	return result(fmt.Sprintf("cachable=%v timeout=%v", ok, d), err)
}

func keyResult(k *Key, err error) string {
	if err != nil {
		return result(nil, err)
	}
	return fmt.Sprintf("name=%x cipher=%x hmac=%x expires=%d", k.Name, k.Cipher, k.HMAC, k.Expires.Unix())
}

// TestReplyParsing feeds raw replies and checks Postfix's client-side rules.
func TestReplyParsing(t *testing.T) {
	key88 := testKey(3, time.Unix(42, 0)).Bytes()
	key56 := append(append(bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 32)...), 42, 0, 0, 0, 0, 0, 0, 0)
	cases := []struct {
		name      string
		reply     string
		call      func(c *Client) string
		want      string
		connects  int // accepts the server sees (2 = retried)
		warnCount int
	}{
		{"ok", "status\x000\x00seed\x00AAEC\x00\x00", seed3, "[0 1 2]", 1, 0},
		{"unsigned -1", "status\x004294967295\x00seed\x00\x00\x00", seed3, "error: tlsmgr seed request: status -1", 1, 0},
		{"signed -2", "status\x00-2\x00seed\x00\x00\x00", seed3, "error: tlsmgr seed request: status -2", 1, 0},
		{"extra attributes skipped", "junk\x00x\x00status\x000\x00more\x00\x00seed\x00AAEC\x00tail\x00y\x00\x00", seed3, "[0 1 2]", 1, 0},
		{"missing seed", "status\x000\x00\x00", seed3, "error: tlsmgr seed request: status -2: missing attribute seed in reply", 1, 0},
		{"wrong order", "seed\x00AAEC\x00status\x000\x00\x00", seed3, "error: tlsmgr seed request: status -2: missing attribute seed in reply", 1, 0},
		{"malformed status is retried", "status\x00zero\x00seed\x00AAEC\x00\x00", seed3,
			"error: attribute status: malformed numerical data", 2, 1},
		{"malformed base64 is retried", "status\x000\x00seed\x00AA!C\x00\x00", seed3,
			"error: attribute seed: malformed base64 data", 2, 1},
		{"wrong protocol", "protocol\x00other_protocol\x00\x00status\x000\x00seed\x00AAEC\x00\x00", seed3,
			`error: unexpected protocol "other_protocol" from ` + "PATH", 2, 1},
		{"keybuf 88", "status\x000\x00keybuf\x00" + b64(key88) + "\x00\x00", tkt,
			"name=03030303030303030303030303030303 cipher=" + strings.Repeat("04", 32) + " hmac=" + strings.Repeat("05", 32) + " expires=42", 1, 0},
		{"keybuf 56 (Postfix 2.11)", "status\x000\x00keybuf\x00" + b64(key56) + "\x00\x00", tkt,
			"name=03030303030303030303030303030303 cipher=" + strings.Repeat("04", 16) + " hmac=" + strings.Repeat("04", 16) + " expires=42", 1, 0},
		{"keybuf 87", "status\x000\x00keybuf\x00" + b64(key88[:87]) + "\x00\x00", tkt,
			"error: tlsmgr tktkey request: status -2: ticket key of 87 bytes, want 88", 1, 0},
		{"policy", "status\x000\x00cachable\x001\x00timeout\x00300\x00\x00", pol, "cachable=true timeout=5m0s", 1, 0},
		// Postfix 2.8 - 2.10: no timeout, and no ticket keys.
		{"policy missing timeout", "status\x000\x00cachable\x001\x00\x00", pol,
			"error: tlsmgr: policy reply without a timeout (before Postfix 2.11): no ticket keys", 1, 0},
		{"policy missing cachable", "status\x000\x00\x00", pol,
			"error: tlsmgr policy request: status -2: missing attribute cachable in reply", 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, false)
			f.set(func(f *fakeTLSMgr) { f.override = func() []byte { return []byte(tc.reply) } })
			var w warnings
			c := mustClient(t, f.path, fastOpts(&w))
			got := tc.call(c)
			if want := strings.ReplaceAll(tc.want, "PATH", f.path); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if n := f.acceptCount(); n != tc.connects {
				t.Errorf("server saw %d connections, want %d", n, tc.connects)
			}
			if n := len(w.list()); n != tc.warnCount {
				t.Errorf("warnings %q, want %d", w.list(), tc.warnCount)
			}
		})
	}
}

// isTimeout: every timeout a Client reports is a net.Error with Timeout().
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func seed3(c *Client) string { return result(c.Seed(3)) }
func tkt(c *Client) string   { return keyResult(c.TicketKey(nil)) }
func pol(c *Client) string   { return result3(c.Policy(CacheSMTPD)) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestAnnouncementModes: every client mode against tlsmgr with and without
// the 3.6+ announcement, and with an announcement that comes late.
func TestAnnouncementModes(t *testing.T) {
	cases := []struct {
		mode             AnnounceMode
		announce, late   bool
		wantOK, wantTime bool
	}{
		{AnnounceAuto, true, false, true, false},
		{AnnounceAuto, false, false, true, false},
		{AnnounceAuto, true, true, true, false},
		{AnnounceRequired, true, false, true, false},
		{AnnounceRequired, false, false, false, true},
		{AnnounceNone, false, false, true, false},
		{AnnounceNone, true, false, false, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("mode%d/announce=%v/late=%v", tc.mode, tc.announce, tc.late), func(t *testing.T) {
			f := newFake(t, tc.announce)
			f.set(func(f *fakeTLSMgr) { f.late = tc.late })
			o := fastOpts(nil)
			o.Announce = tc.mode
			o.Timeout = 300 * time.Millisecond
			c := mustClient(t, f.path, o)
			for i := 0; i < 3; i++ {
				_, err := c.Seed(8)
				if tc.wantOK != (err == nil) {
					t.Fatalf("request %d: err = %v, want ok=%v", i, err, tc.wantOK)
				}
				if tc.wantTime && !isTimeout(err) {
					t.Fatalf("err = %v, want a timeout", err)
				}
				if !tc.wantOK {
					break
				}
			}
			if tc.wantOK && f.acceptCount() != 1 {
				t.Errorf("%d connections, want 1", f.acceptCount())
			}
		})
	}
}

// TestDown: no socket at all (master not running): fails fast, after one
// retry, with Postfix's warnings.
func TestDown(t *testing.T) {
	var w warnings
	path := filepath.Join(t.TempDir(), "tlsmgr")
	c := mustClient(t, path, fastOpts(&w))
	start := time.Now()
	_, err := c.Seed(32)
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	want := []string{
		"connect to " + path + ": dial unix " + path + ": connect: no such file or directory",
		"connect to " + path + ": dial unix " + path + ": connect: no such file or directory",
		"problem talking to server " + path + ": connect to " + path + ": dial unix " + path + ": connect: no such file or directory",
	}
	if got := w.list(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Dial(path, fastOpts(nil)); err == nil {
		t.Error("Dial succeeded without a server")
	}
}

// TestHang: tlsmgr accepts but never answers. Every caller, including those
// queued behind the stuck request, gets a timeout within Timeout.
func TestHang(t *testing.T) {
	f := newFake(t, true)
	f.set(func(f *fakeTLSMgr) { f.hang = true })
	o := fastOpts(nil)
	o.Timeout = 300 * time.Millisecond
	c := mustClient(t, f.path, o)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	durs := make([]time.Duration, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, errs[i] = c.Seed(32)
			durs[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !isTimeout(err) {
			t.Errorf("caller %d: %v, want a timeout", i, err)
		}
		if durs[i] > o.Timeout+500*time.Millisecond {
			t.Errorf("caller %d blocked %v", i, durs[i])
		}
	}
}

// TestRestart: tlsmgr goes away and comes back between requests; the client
// notices the dead connection before sending (readable check) and
// reconnects without a failure or warning.
func TestRestart(t *testing.T) {
	f := newFake(t, true)
	var w warnings
	o := fastOpts(&w)
	o.RetryDelay = time.Hour // no retry possible: the first attempt must work
	c := mustClient(t, f.path, o)
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
	f.stop()
	f.start()
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
	if f.acceptCount() != 2 || len(w.list()) != 0 {
		t.Errorf("accepts %d warnings %q", f.acceptCount(), w.list())
	}
	// Down now: the request fails; back up: the next one works.
	f.stop()
	if _, err := c.Seed(1); err == nil {
		t.Fatal("request to a stopped tlsmgr succeeded")
	}
	f.start()
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
}

// TestRetryOnce: a connection that breaks during a request is replaced and
// the request retried once; two breaks in a row fail the request.
func TestRetryOnce(t *testing.T) {
	for _, tc := range []struct {
		drops   int
		wantErr bool
	}{{0, false}, {1, false}, {2, true}} {
		t.Run(fmt.Sprint(tc.drops), func(t *testing.T) {
			f := newFake(t, true)
			f.set(func(f *fakeTLSMgr) { f.dropNext = tc.drops })
			var w warnings
			c := mustClient(t, f.path, fastOpts(&w))
			_, err := c.Seed(4)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if want := min(tc.drops, 1) + 1; f.acceptCount() != want {
				t.Errorf("%d connections, want %d", f.acceptCount(), want)
			}
			if tc.wantErr != (len(w.list()) == 1) || (!tc.wantErr && len(w.list()) != 0) {
				t.Errorf("warnings %q", w.list())
			}
		})
	}
}

// TestIdleAndTTL: with a controlled clock, a connection unused for
// IdleLimit or older than TTL is replaced before the next request.
func TestIdleAndTTL(t *testing.T) {
	f := newFake(t, true)
	clk := &fakeClock{now: time.Unix(1000, 0)}
	o := fastOpts(nil)
	o.Now = clk.Now
	o.IdleLimit = 5 * time.Second
	o.TTL = 10 * time.Second
	c := mustClient(t, f.path, o)
	steps := []struct {
		advance time.Duration
		accepts int
	}{
		{0, 1},
		{4 * time.Second, 1}, // used within ipc_idle: kept
		{4 * time.Second, 1}, // still 8 s old: kept
		{4 * time.Second, 2}, // 12 s old >= ipc_ttl: new connection
		{5 * time.Second, 3}, // idle 5 s: new connection
		{time.Second, 3},
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if _, err := c.Seed(1); err != nil {
			t.Fatal(err)
		}
		if n := f.acceptCount(); n != s.accepts {
			t.Fatalf("step %d: %d connections, want %d", i, n, s.accepts)
		}
	}
}

// TestIdleTimerCloses: the real idle timer closes an unused connection.
func TestIdleTimerCloses(t *testing.T) {
	f := newFake(t, true)
	o := fastOpts(nil)
	o.IdleLimit = 50 * time.Millisecond
	c := mustClient(t, f.path, o)
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
	f.waitClosed(t) // bounded; fails if the timer never fires
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
	if f.acceptCount() != 2 {
		t.Errorf("%d connections, want 2", f.acceptCount())
	}
}

// TestConcurrent: many goroutines share one client and one connection.
func TestConcurrent(t *testing.T) {
	f := newFake(t, true)
	c := mustClient(t, f.path, fastOpts(nil))
	var wg sync.WaitGroup
	errc := make(chan error, 400)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				n := 1 + (g+i)%40
				s, err := c.Seed(n)
				if err == nil && len(s) != n {
					err = fmt.Errorf("seed of %d bytes, want %d", len(s), n)
				}
				if err == nil {
					_, err = c.TicketKey(nil)
				}
				if err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if f.acceptCount() != 1 {
		t.Errorf("%d connections, want 1", f.acceptCount())
	}
}

// TestRelativePath: Dial("private/tlsmgr") resolves against the current
// directory, which is queue_directory before the chroot and "/" (the same
// directory) after it. Dial connects at once; Close ends the client.
func TestRelativePath(t *testing.T) {
	f := newFake(t, true)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.path, filepath.Join(dir, ServicePath("tlsmgr"))); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := Dial(ServicePath("tlsmgr"), fastOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seed(1); err != nil {
		t.Fatal(err)
	}
	if f.acceptCount() != 1 {
		t.Errorf("%d connections, want 1 (the one Dial made)", f.acceptCount())
	}
	c.Close()
	if _, err := c.Seed(1); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
