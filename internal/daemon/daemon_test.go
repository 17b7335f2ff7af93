package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// recNotifier records the status records the daemon would send master.
type recNotifier struct {
	mu     sync.Mutex
	events []string
	block  chan struct{} // when non-nil, Taken blocks until it is closed
	fail   bool          // Available fails (master gone)
	takens chan struct{} // when non-nil, gets a value at each Taken
}

func (n *recNotifier) Taken() error {
	if n.block != nil {
		<-n.block
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, "taken")
	if n.takens != nil {
		n.takens <- struct{}{}
	}
	return nil
}

func (n *recNotifier) Available() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, "avail")
	if n.fail {
		return errors.New("master gone")
	}
	return nil
}

func (n *recNotifier) Events() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.events...)
}

type nopLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *nopLog) add(s string)              { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *nopLog) Infof(f string, a ...any)  { l.add(fmt.Sprintf(f, a...)) }
func (l *nopLog) Warnf(f string, a ...any)  { l.add("warning: " + fmt.Sprintf(f, a...)) }
func (l *nopLog) Errorf(f string, a ...any) { l.add("error: " + fmt.Sprintf(f, a...)) }
func (l *nopLog) Fatalf(f string, a ...any) { l.add("fatal: " + fmt.Sprintf(f, a...)) }

// setup returns a daemon on a fresh UNIX listener; each accepted
// connection is handed to the returned channel and held open until the
// test closes it.
func setup(t *testing.T) (*Daemon, string, chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsproxy")
	ln := pftest.ListenUnix(t, path)
	conns := make(chan *os.File, 16)
	d := &Daemon{
		Listener: ln,
		Log:      &nopLog{},
		Handle: func(ctx context.Context, c *os.File, done func()) {
			defer done()
			conns <- c
			buf := make([]byte, 1)
			_, _ = c.Read(buf) // returns when the client closes
			c.Close()
		},
	}
	return d, path, conns
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type result struct {
	reason string
	err    error
}

func start(d *Daemon) chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := d.Run(context.Background())
		ch <- result{r, err}
	}()
	return ch
}

func wait(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	return result{}
}

// wantEnd waits for Run to return on ch and checks why it did.
func wantEnd(t *testing.T, ch chan result, reason string) {
	t.Helper()
	if r := wait(t, ch); r.reason != reason {
		t.Fatalf("Run = %q, want %q", r.reason, reason)
	}
}

func TestStatusAroundEachAccept(t *testing.T) {
	d, path, conns := setup(t)
	n := &recNotifier{}
	d.Status = n
	d.MaxUse = 2
	done := start(d)
	for i := 0; i < 2; i++ {
		c := dial(t, path)
		<-conns
		c.Close()
	}
	r := wait(t, done)
	if r.reason != EndUse || r.err != nil {
		t.Fatalf("Run = %q, %v; want %q", r.reason, r.err, EndUse)
	}
	want := []string{"taken", "avail", "taken", "avail"}
	if got := n.Events(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status records %v, want %v", got, want)
	}
}

// TestHandOverAtUseLimit: a process at max_use with HandOver tells
// master it is busy (so that master starts the next process) and goes on
// serving new connections, without status records for them, until the
// hand-over ends: here after max_use/10 = 2 more connections, with a
// time limit that does not end it.
func TestHandOverAtUseLimit(t *testing.T) {
	const maxUse = 20
	d, path, conns := setup(t)
	n := &recNotifier{takens: make(chan struct{}, maxUse+2)}
	d.Status = n
	d.MaxUse = maxUse
	d.HandOver = time.Hour
	done := start(d)
	var want []string
	for range maxUse {
		c := dial(t, path)
		<-conns
		<-n.takens // the accept's
		c.Close()
		want = append(want, "taken", "avail")
	}
	<-n.takens // the hand-over's: every session ended, max_use reached
	want = append(want, "taken")
	for range 2 { // served during the hand-over
		c := dial(t, path)
		<-conns
		c.Close()
	}
	wantEnd(t, done, EndUse) // the second one ended the hand-over
	if got := n.Events(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status records %v, want %v", got, want)
	}
}

// TestHandOverEnds: the hand-over's time limit drains the process by
// itself; below a max_use of 10 there is no hand-over (max_use = 1 is a
// process per session).
func TestHandOverEnds(t *testing.T) {
	for _, tc := range []struct {
		maxUse int
		want   []string // status records
	}{
		{10, []string{"taken", "avail", "taken", "avail", "taken", "avail", "taken", "avail", "taken", "avail",
			"taken", "avail", "taken", "avail", "taken", "avail", "taken", "avail", "taken", "avail", "taken"}},
		{2, []string{"taken", "avail", "taken", "avail"}},
	} {
		t.Run(fmt.Sprint(tc.maxUse), func(t *testing.T) {
			d, path, conns := setup(t)
			n := &recNotifier{}
			d.Status = n
			d.MaxUse = tc.maxUse
			d.HandOver = 20 * time.Millisecond
			done := start(d)
			for range tc.maxUse {
				c := dial(t, path)
				<-conns
				c.Close()
			}
			wantEnd(t, done, EndUse)
			if got := n.Events(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("status records %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDrainOnMasterEOF(t *testing.T) {
	d, path, conns := setup(t)
	gone := make(chan struct{})
	d.MasterGone = gone
	done := start(d)
	c := dial(t, path)
	<-conns
	close(gone)
	// The listener closes: new clients are refused, while the open
	// session goes on until its client closes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err := net.Dial("unix", path)
		if err != nil {
			break
		}
		c2.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after master went away")
		}
		time.Sleep(10 * time.Millisecond) // polling the listener's state, bounded
	}
	select {
	case r := <-done:
		t.Fatalf("Run returned %q with a session still open", r.reason)
	default:
	}
	c.Close()
	wantEnd(t, done, EndDrained)
}

func TestDrainWhenStatusWriteFails(t *testing.T) {
	d, path, conns := setup(t)
	d.Status = &recNotifier{fail: true}
	done := start(d)
	c := dial(t, path)
	<-conns
	c.Close()
	wantEnd(t, done, EndDrained)
}

func TestIdleExit(t *testing.T) {
	d, path, conns := setup(t)
	d.MaxIdle = 50 * time.Millisecond
	done := start(d)
	c := dial(t, path)
	<-conns
	// While a client is open the idle timer must not end the process.
	select {
	case r := <-done:
		t.Fatalf("Run returned %q with a client open", r.reason)
	case <-time.After(150 * time.Millisecond):
	}
	c.Close()
	wantEnd(t, done, EndIdle)
}

func TestRetirementDrains(t *testing.T) {
	d, _, _ := setup(t)
	d.Retire = 20 * time.Millisecond
	wantEnd(t, start(d), EndDrained)
}

func TestWatchdogFiresWhenLoopIsStuck(t *testing.T) {
	d, path, _ := setup(t)
	n := &recNotifier{block: make(chan struct{})}
	defer close(n.block)
	d.Status = n
	d.Watchdog = 60 * time.Millisecond
	fired := make(chan struct{})
	d.OnWatchdog = func() { close(fired) }
	start(d)
	c := dial(t, path) // the loop now blocks in Taken
	defer c.Close()
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("watchdog did not fire")
	}
	log := d.Log.(*nopLog)
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.lines) == 0 || log.lines[len(log.lines)-1] != "fatal: watchdog timeout" {
		t.Errorf("log %q, want fatal: watchdog timeout", log.lines)
	}
}

func TestWatchdogQuietWhenIdle(t *testing.T) {
	d, _, _ := setup(t)
	d.Watchdog = 30 * time.Millisecond
	d.MaxIdle = 300 * time.Millisecond // ten watchdog periods of nothing
	fired := make(chan struct{}, 1)
	d.OnWatchdog = func() { fired <- struct{}{} }
	wantEnd(t, start(d), EndIdle)
	select {
	case <-fired:
		t.Fatal("watchdog fired while the loop was idle")
	default:
	}
}

// TestTrimAfterQuiet: free memory goes back to the kernel once connections
// stop arriving, and not before any came.
func TestTrimAfterQuiet(t *testing.T) {
	d, path, conns := setup(t)
	d.TrimAfter = 20 * time.Millisecond
	trims := make(chan time.Time, 4)
	d.Trim = func() { trims <- time.Now() }
	d.Retire = 10 * time.Second // ends the test's Run if nothing else does
	done := start(d)
	select {
	case <-trims:
		t.Fatal("trimmed before any connection")
	case <-time.After(100 * time.Millisecond):
	}
	var last time.Time
	for range 3 {
		c := dial(t, path)
		defer c.Close()
		<-conns
		last = time.Now()
	}
	select {
	case at := <-trims:
		if quiet := at.Sub(last); quiet < d.TrimAfter {
			t.Errorf("trimmed %v after the last connection, want ≥ %v", quiet, d.TrimAfter)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after the connections stopped")
	}
	select {
	case <-trims:
		t.Fatal("trimmed twice for one quiet spell")
	case <-time.After(100 * time.Millisecond):
	}
	d.Listener.Close()
	_ = done
}
