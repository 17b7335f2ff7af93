package park

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns both ends of a loopback TCP connection.
func pair(t testing.TB) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// waiter registers c with p, failing the test when it cannot.
func waiter(t testing.TB, p *Poller, c *net.TCPConn) *Waiter {
	t.Helper()
	w, err := p.NewWaiter(c)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// resumed waits (bounded) for ch and fails the test if it does not come.
func resumed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not resumed within 10 s", what)
	}
}

// notResumed checks that ch stays quiet while a later event on another
// connection (a marker) is delivered: the Poller handles events in order
// of arrival, so a resume that was due would have come first or with it.
func notResumed(t *testing.T, p *Poller, ch <-chan struct{}, what string) {
	t.Helper()
	ma, mb := pair(t)
	w, err := p.NewWaiter(mb)
	if err != nil {
		t.Fatal(err)
	}
	marker := make(chan struct{})
	if err := w.Wait(func() { close(marker) }); err != nil {
		t.Fatal(err)
	}
	if _, err := ma.Write([]byte("m")); err != nil {
		t.Fatal(err)
	}
	resumed(t, marker, "marker")
	select {
	case <-ch:
		t.Fatalf("%s: resumed without input", what)
	default:
	}
}

func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(a *net.TCPConn) // happens before Wait
		after  func(a *net.TCPConn) // happens after Wait; nil: nothing
		fires  bool
	}{
		{"input already queued", func(a *net.TCPConn) { a.Write([]byte("x")) }, nil, true},
		{"input after the wait", nil, func(a *net.TCPConn) { a.Write([]byte("x")) }, true},
		{"peer closes", nil, func(a *net.TCPConn) { a.Close() }, true},
		{"peer half-closes", nil, func(a *net.TCPConn) { a.CloseWrite() }, true},
		{"peer resets", nil, func(a *net.TCPConn) { a.SetLinger(0); a.Close() }, true},
		{"nothing happens", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Poller
			a, b := pair(t)
			if tc.before != nil {
				tc.before(a)
			}
			w := waiter(t, &p, b)
			ch := make(chan struct{})
			if err := w.Wait(func() { close(ch) }); err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after(a)
			}
			if tc.fires {
				resumed(t, ch, tc.name)
				if p.Parked() != 0 {
					t.Errorf("%d still parked after the resume", p.Parked())
				}
				return
			}
			notResumed(t, &p, ch, tc.name)
			if f := w.Cancel(); f == nil {
				t.Fatal("Cancel of a pending wait returned nil")
			}
			if w.Cancel() != nil {
				t.Fatal("second Cancel returned the function again")
			}
		})
	}
}

// TestRewait: a waiter parks again and again (the second and later waits
// re-arm the same registration).
func TestRewait(t *testing.T) {
	var p Poller
	a, b := pair(t)
	w := waiter(t, &p, b)
	buf := make([]byte, 16)
	for i := range 50 {
		ch := make(chan struct{})
		if err := w.Wait(func() { close(ch) }); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		resumed(t, ch, "round")
		if n, err := b.Read(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("round %d: read %d %v %x", i, n, err, buf[:n])
		}
	}
	if got := p.Waits(); got != 50 {
		t.Errorf("Waits() = %d, want 50", got)
	}
	w.Close()
	w.Close() // twice is harmless
}

// TestCancelledWaitIgnoresLateInput: input for a cancelled wait does not
// run its function.
func TestCancelledWaitIgnoresLateInput(t *testing.T) {
	var p Poller
	a, b := pair(t)
	w := waiter(t, &p, b)
	var runs atomic.Int32
	if err := w.Wait(func() { runs.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if w.Cancel() == nil {
		t.Fatal("Cancel returned nil")
	}
	if _, err := a.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	notResumed(t, &p, nil, "cancelled")
	if runs.Load() != 0 {
		t.Fatal("a cancelled wait ran")
	}
}

func TestWaitOnClosedConn(t *testing.T) {
	var p Poller
	_, b := pair(t)
	w := waiter(t, &p, b)
	b.Close()
	if err := w.Wait(func() {}); err == nil {
		t.Fatal("Wait on a closed connection succeeded")
	}
	if p.Parked() != 0 {
		t.Fatalf("a failed wait stayed registered (%d)", p.Parked())
	}
}

// TestCancelRacesInput: Cancel and an arriving event race; the function
// runs exactly once, by whichever side won, many times over.
func TestCancelRacesInput(t *testing.T) {
	var p Poller
	const conns = 200
	var wg sync.WaitGroup
	var runs atomic.Int32
	for range conns {
		a, b := pair(t)
		w := waiter(t, &p, b)
		wg.Add(1)
		var once atomic.Bool
		f := func() {
			if !once.CompareAndSwap(false, true) {
				t.Error("function ran twice")
			}
			runs.Add(1)
			wg.Done()
		}
		if err := w.Wait(f); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = a.Write([]byte("x")) }()
		go func() {
			if g := w.Cancel(); g != nil {
				g()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	resumed(t, done, "all")
	if runs.Load() != conns {
		t.Fatalf("%d runs, want %d", runs.Load(), conns)
	}
}

func TestNewWaiterNeedsSocket(t *testing.T) {
	var p Poller
	a, _ := pair(t)
	a.Close()
	w, err := p.NewWaiter(a)
	if err != nil {
		return // refused at once: fine
	}
	if err := w.Wait(func() {}); !errors.Is(err, ErrClosed) && err == nil {
		t.Fatal("Wait on a closed socket succeeded")
	}
}

// TestEpollInGoPoller: the epoll instance is non-blocking and in Go's
// poller, so that the loop waits there and no thread sleeps in
// epoll_wait(2); parking still works on it (TestWait and the rest).
func TestEpollInGoPoller(t *testing.T) {
	p := &Poller{}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(uintptr(p.epfd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Errorf("epoll instance flags %#x: not O_NONBLOCK", flags)
	}
	// (Not p.ep.Fd(): that would make the descriptor blocking.)
	var held uintptr
	if err := p.epRaw.Control(func(fd uintptr) { held = fd }); err != nil || int(held) != p.epfd {
		t.Errorf("epoll instance not held as an *os.File: fd %d, %v; want %d", held, err, p.epfd)
	}
}

// TestCancelWhileStarting: Cancel on a Poller whose first Wait is starting
// it at the same moment (under -race: the map Start makes is written under
// the lock that Cancel takes).
func TestCancelWhileStarting(t *testing.T) {
	for range 20 {
		p := &Poller{}
		a, _ := pair(t)
		w1, err := p.NewWaiter(a)
		if err != nil {
			t.Fatal(err)
		}
		w2, err := p.NewWaiter(a)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := w1.Wait(func() {}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = w2.Cancel() // nothing of w2's is registered: nil
		}()
		wg.Wait()
		w1.Close()
	}
}
