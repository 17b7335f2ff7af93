package maillog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	testTime     = time.Date(2025, time.November, 24, 20, 28, 30, 0, time.UTC)
	testTimeDay4 = time.Date(2025, time.November, 4, 7, 5, 9, 0, time.UTC)
)

func fixedNow() time.Time { return testTime }

// listen returns a unixgram socket in a fresh directory.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "log")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, p
}

// readDatagram reads one datagram, failing the test after 5 s.
func readDatagram(t *testing.T, ln *net.UnixConn) string {
	t.Helper()
	if err := ln.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatalf("read datagram: %v", err)
	}
	return string(buf[:n])
}

// readNow reads one datagram that must already be queued on ln.
func readNow(t *testing.T, ln *net.UnixConn) string {
	t.Helper()
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if rerr != nil {
		t.Fatalf("no datagram waiting: %v", rerr)
	}
	return string(buf[:n])
}

func TestOpenSockets(t *testing.T) {
	tests := []struct {
		name    string
		postlog bool
		log     func(l *Logger)
		want    []string
		stderr  string
	}{
		{"syslog info", false, func(l *Logger) { l.Infof("CONNECT from %s", "[127.0.0.1]:53394") },
			[]string{"<22>Nov 24 20:28:30 postfix/tlsproxy[27685]: CONNECT from [127.0.0.1]:53394"},
			"postfix/tlsproxy: CONNECT from [127.0.0.1]:53394\n"},
		{"syslog severities", false, func(l *Logger) {
			l.Warnf("w%d", 1)
			l.Errorf("e")
			l.Debugf("not logged at verbose 0")
			l.SetVerbose(1)
			l.Debugf("d")
		}, []string{
			"<20>Nov 24 20:28:30 postfix/tlsproxy[27685]: warning: w1",
			"<19>Nov 24 20:28:30 postfix/tlsproxy[27685]: error: e",
			"<22>Nov 24 20:28:30 postfix/tlsproxy[27685]: d",
		}, "postfix/tlsproxy: warning: w1\npostfix/tlsproxy: error: e\npostfix/tlsproxy: d\n"},
		{"postlog", true, func(l *Logger) {
			l.Infof("CONNECT from [127.0.0.1]:53394")
			l.Warnf("a\nb")
		}, []string{
			"Nov 24 20:28:30 harness postfix/tlsproxy[27685]: CONNECT from [127.0.0.1]:53394",
			"Nov 24 20:28:30 harness postfix/tlsproxy[27685]: warning: a?b",
		}, "postfix/tlsproxy: CONNECT from [127.0.0.1]:53394\npostfix/tlsproxy: warning: a?b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, p := listen(t)
			var stderr bytes.Buffer
			o := Options{Ident: "postfix/tlsproxy", Facility: "mail", Hostname: "harness.localdomain",
				Stderr: &stderr, Now: fixedNow, Pid: 27685, SyslogPath: p}
			if tc.postlog {
				o.SyslogPath, o.Postlog = filepath.Join(t.TempDir(), "nonexistent"), p
			}
			l, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			tc.log(l)
			for _, want := range tc.want {
				if got := readDatagram(t, ln); got != want {
					t.Errorf("got  %q\nwant %q", got, want)
				}
			}
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if got := stderr.String(); got != tc.stderr {
				t.Errorf("stderr:\n got %q\nwant %q", got, tc.stderr)
			}
		})
	}
}

// TestFlushSync checks that Fatalf, Panicf and Close return only after
// the datagram is in the receiver's queue.
func TestFlushSync(t *testing.T) {
	ln, p := listen(t)
	l, err := Open(Options{Ident: "postfix/tlsproxy", Now: fixedNow, Pid: 1, SyslogPath: p})
	if err != nil {
		t.Fatal(err)
	}
	l.Fatalf("bad %s", "thing")
	if got, want := readNow(t, ln), "<18>Nov 24 20:28:30 postfix/tlsproxy[1]: fatal: bad thing"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	l.Panicf("oops")
	if got, want := readNow(t, ln), "<18>Nov 24 20:28:30 postfix/tlsproxy[1]: panic: oops"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	l.Infof("last")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readNow(t, ln), "<22>Nov 24 20:28:30 postfix/tlsproxy[1]: last"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	l.Infof("after close") // must neither panic nor send
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenMissingSocket(t *testing.T) {
	var stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "dev-log")
	l, err := Open(Options{Ident: "postfix/tlsproxy", SyslogPath: missing, Stderr: &stderr, Pid: 3})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open error = %v, want ErrUnavailable naming %s", err, missing)
	}
	if l == nil {
		t.Fatal("no fallback Logger")
	}
	l.Warnf("%v", err)
	l.Fatalf("x")
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if got := stderr.String(); !strings.HasPrefix(got, "postfix/tlsproxy: warning: log socket unavailable") || !strings.HasSuffix(got, "postfix/tlsproxy: fatal: x\n") {
		t.Errorf("stderr = %q", got)
	}
}

func TestOpenBadFacility(t *testing.T) {
	if l, err := Open(Options{Facility: "mial"}); err == nil || l != nil {
		t.Fatalf("Open = %v, %v; want nil and an error", l, err)
	}
}

// fakeConn records datagrams. With a gate, every Write first announces
// itself on entered and then waits for the gate to open.
type fakeConn struct {
	got     chan string
	entered chan struct{}
	gate    chan struct{}
	err     error // returned by every Write when non-nil
	closed  chan struct{}
}

func newFakeConn() *fakeConn {
	return &fakeConn{got: make(chan string, 100), closed: make(chan struct{})}
}

func (c *fakeConn) Write(b []byte) (int, error) {
	if c.entered != nil {
		c.entered <- struct{}{}
	}
	if c.gate != nil {
		<-c.gate
	}
	if c.err != nil {
		return 0, c.err
	}
	c.got <- string(b)
	return len(b), nil
}
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fakeConn) Close() error                     { close(c.closed); return nil }

func (c *fakeConn) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-c.got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram written")
		return ""
	}
}

// expect checks that the next datagrams written are want, in order.
func (c *fakeConn) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := c.next(t); got != w {
			t.Errorf("got  %q\nwant %q", got, w)
		}
	}
}

func startFake(t *testing.T, c *fakeConn, dial func(string) (datagramConn, error)) *Logger {
	t.Helper()
	l, err := newLogger(Options{Ident: "p/t", Now: fixedNow, Pid: 9})
	if err != nil {
		t.Fatal(err)
	}
	if dial == nil {
		dial = func(string) (datagramConn, error) { return nil, errors.New("no redial in this test") }
	}
	l.start("fake", c, dial)
	return l
}

func TestQueueFullDrops(t *testing.T) {
	defer func(n int) { queueSize = n }(queueSize)
	queueSize = 4
	c := newFakeConn()
	c.entered, c.gate = make(chan struct{}, 100), make(chan struct{})
	l := startFake(t, c, nil)

	l.Infof("r0")
	<-c.entered // the writer holds r0 and is stuck in Write
	for i := 1; i <= 4+3; i++ {
		l.Infof("r%d", i) // r1..r4 fill the queue, r5..r7 are dropped
	}
	if n := l.dropped.Load(); n != 3 {
		t.Fatalf("dropped = %d, want 3", n)
	}
	close(c.gate)
	want := []string{
		"<22>Nov 24 20:28:30 p/t[9]: r0",
		"<20>Nov 24 20:28:30 p/t[9]: warning: maillog: 3 log record(s) dropped: log socket busy or unavailable",
		"<22>Nov 24 20:28:30 p/t[9]: r1",
		"<22>Nov 24 20:28:30 p/t[9]: r2",
		"<22>Nov 24 20:28:30 p/t[9]: r3",
		"<22>Nov 24 20:28:30 p/t[9]: r4",
	}
	c.expect(t, want...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-c.got:
		t.Errorf("unexpected extra datagram %q", s)
	default:
	}
}

// TestFatalWaitsBounded checks that Fatalf gives up after flushTimeout
// when the socket never drains, and counts the lost record.
func TestFatalWaitsBounded(t *testing.T) {
	defer func(n int, d time.Duration) { queueSize, flushTimeout = n, d }(queueSize, flushTimeout)
	queueSize, flushTimeout = 1, 50*time.Millisecond
	c := newFakeConn()
	c.entered, c.gate = make(chan struct{}, 100), make(chan struct{})
	l := startFake(t, c, nil)
	l.Infof("stuck")
	<-c.entered
	l.Infof("queued") // fills the queue of 1
	start := time.Now()
	l.Fatalf("lost")
	if d := time.Since(start); d < flushTimeout {
		t.Errorf("Fatalf returned after %v, before the flush timeout", d)
	}
	if n := l.dropped.Load(); n != 1 {
		t.Errorf("dropped = %d, want 1", n)
	}
	close(c.gate)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrorRedial(t *testing.T) {
	dead := newFakeConn()
	dead.err = syscall.ECONNREFUSED
	fresh := newFakeConn()
	dials := 0
	l := startFake(t, dead, func(p string) (datagramConn, error) {
		dials++
		if p != "fake" {
			t.Errorf("redial of %q", p)
		}
		return fresh, nil
	})
	l.Warnf("after restart")
	if got, want := fresh.next(t), "<20>Nov 24 20:28:30 p/t[9]: warning: after restart"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if dials != 1 {
		t.Errorf("dials = %d, want 1", dials)
	}
	select {
	case <-dead.closed:
	default:
		t.Error("old connection not closed")
	}
}

func TestWriteTimeoutNoRedial(t *testing.T) {
	c := newFakeConn()
	c.err = os.ErrDeadlineExceeded
	l := startFake(t, c, func(string) (datagramConn, error) {
		t.Error("redial after a timeout")
		return nil, errors.New("no")
	})
	l.Infof("a")
	l.Fatalf("b") // waits until both were tried
	if n := l.dropped.Load(); n != 2 {
		t.Errorf("dropped = %d, want 2", n)
	}
	c.err = nil
	l.Fatalf("c")
	want := []string{
		"<20>Nov 24 20:28:30 p/t[9]: warning: maillog: 2 log record(s) dropped: log socket busy or unavailable",
		"<18>Nov 24 20:28:30 p/t[9]: fatal: c",
	}
	c.expect(t, want...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentLogging(t *testing.T) {
	ln, p := listen(t)
	l, err := Open(Options{Ident: "postfix/tlsproxy", Postlog: p, Hostname: "h", Pid: 5})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Infof("worker %d record %d", w, i)
			}
		})
	}
	seen := map[string]bool{}
	for range workers * each {
		s := readDatagram(t, ln)
		_, text, ok := strings.Cut(s, "postfix/tlsproxy[5]: ")
		if !ok || seen[text] {
			t.Fatalf("bad or repeated datagram %q", s)
		}
		seen[text] = true
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		if !seen[fmt.Sprintf("worker %d record %d", w, each-1)] {
			t.Errorf("worker %d: last record missing", w)
		}
	}
}

func TestRecorder(t *testing.T) {
	l, r := NewRecorder()
	l.Infof("CONNECT from %s", "[127.0.0.1]:1")
	l.Debugf("hidden")
	l.Warnf("w\x01")
	if got, want := r.Lines(), []string{"CONNECT from [127.0.0.1]:1", "warning: w?"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Lines() = %q, want %q", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Wait(ctx, "CONNECT"); err != nil {
		t.Errorf("Wait for an existing record: %v", err)
	}
	go func() {
		l.SetVerbose(1)
		l.Debugf("from another goroutine")
		l.Errorf("done")
	}()
	if err := r.Wait(ctx, "error: done"); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if got := r.Lines(); len(got) != 4 || got[2] != "from another goroutine" {
		t.Errorf("Lines() = %q", got)
	}

	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := r.Wait(short, "never"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v", err)
	}
}

func TestDiscardAndNil(t *testing.T) {
	for _, l := range []*Logger{Discard(), nil} {
		l.Infof("x")
		l.Fatalf("y")
		l.SetVerbose(2)
		l.Debugf("z")
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}
	if v := (*Logger)(nil).Verbose(); v != 0 {
		t.Errorf("nil Verbose = %d", v)
	}
}

// TestOrderDirectAndQueued: records written at once by the logging
// goroutine and records that wait in the queue (the socket was full)
// still arrive in each goroutine's order, none lost.
func TestOrderDirectAndQueued(t *testing.T) {
	ln, p := listen(t)
	l, err := Open(Options{Ident: "postfix/tlsproxy", Postlog: p, Hostname: "h", Pid: 5})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 200 // more than the socket queues (512), fewer than ours
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Infof("worker %d record %d", w, i)
			}
		})
	}
	next := make([]int, workers)
	for range workers * each {
		s := readDatagram(t, ln)
		var w, i int
		k := strings.Index(s, "worker ")
		if k < 0 {
			t.Fatalf("unexpected datagram %q", s)
		}
		if _, err := fmt.Sscanf(s[k:], "worker %d record %d", &w, &i); err != nil {
			t.Fatalf("bad datagram %q: %v", s, err)
		}
		if i != next[w] {
			t.Fatalf("worker %d: record %d arrived, want %d", w, i, next[w])
		}
		next[w]++
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := l.dropped.Load(); n != 0 {
		t.Errorf("%d records dropped", n)
	}
}
