package fdclose

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pftest/leak"
)

// signalled is a Conn whose Close, which only a flush calls, is reported
// on closed.
type signalled struct {
	*os.File
	closed chan error
}

func (s signalled) Close() error {
	err := s.File.Close()
	s.closed <- err
	return err
}

// fdOf returns f's descriptor number without changing its mode.
func fdOf(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// sameFile reports whether descriptor fd refers to the same open file as
// the placeholder (kcmp(2) is not always available: compare fstat).
func sameFile(fd int) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Fstat(placeholder, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// TestClose: the peer sees the end at once, before any flush; the socket's
// descriptor then holds the placeholder; the flush closes the Conn, which
// gives the descriptor number back.
func TestClose(t *testing.T) {
	if placeholder < 0 {
		t.Fatal("no placeholder descriptor")
	}
	cases := []struct {
		name   string
		unread bool // the closed side leaves input unread
		want   error
	}{
		{"clean end reads as EOF", false, io.EOF},
		{"unread input resets the connection", true, syscall.ECONNRESET},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leak.AtEnd(t)
			stopClock(t)(time.Now())
			Flush() // the last flush is now: Close does not start one
			client, server := pftest.RemotePair(t)
			if tc.unread {
				if _, err := client.Write([]byte("unread")); err != nil {
					t.Fatal(err)
				}
				// The input must have arrived before the close.
				if err := waitReadable(fdOf(t, server)); err != nil {
					t.Fatal(err)
				}
			}
			fd := fdOf(t, server)
			c := signalled{server, make(chan error, 1)}
			if err := Close(c); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := client.Read(make([]byte, 16))
			if !errors.Is(err, tc.want) {
				t.Fatalf("peer read after Close: %v, want %v", err, tc.want)
			}
			if !sameFile(fd) {
				t.Fatalf("descriptor %d does not hold the placeholder before the flush", fd)
			}
			if Pending() == 0 {
				t.Fatal("nothing pending before the flush")
			}
			Flush()
			if err := <-c.closed; err != nil {
				t.Fatalf("flush: Close: %v", err)
			}
			if sameFile(fd) {
				t.Fatalf("descriptor %d still holds the placeholder after the flush", fd)
			}
		})
	}
}

// stopClock fixes the package's clock at a moment the test chooses and
// starts with nothing pending; the clock is restored when the test ends.
func stopClock(t *testing.T) (set func(time.Time)) {
	Flush()
	var at time.Time
	clock = func() time.Time { return at }
	t.Cleanup(func() { clock = time.Now; Flush() })
	return func(t time.Time) { at = t }
}

// TestFlushTriggers: what starts the flush that closes a Conn.
func TestFlushTriggers(t *testing.T) {
	cases := []struct {
		name      string
		sinceLast time.Duration // from the last flush to the Close
		others    int           // connections already pending
		flushes   bool          // the Close starts a flush
	}{
		{"soon after a flush: it waits", Delay / 2, 0, false},
		{"a Delay after the last flush", Delay, 0, true},
		{"the MaxPending-th connection", 0, MaxPending - 1, true},
		{"one fewer than MaxPending waits", 0, MaxPending - 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leak.AtEnd(t)
			set := stopClock(t)
			t0 := time.Now()
			set(t0)
			Flush() // the last flush is at t0
			for range tc.others {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := Close(r); err != nil {
					t.Fatal(err)
				}
				w.Close()
			}
			set(t0.Add(tc.sinceLast))
			_, server := pftest.RemotePair(t)
			c := signalled{server, make(chan error, 1)}
			if err := Close(c); err != nil {
				t.Fatal(err)
			}
			if !tc.flushes {
				if n := Pending(); n != tc.others+1 {
					t.Fatalf("%d pending, want %d", n, tc.others+1)
				}
				return // the cleanup flushes
			}
			select {
			case err := <-c.closed:
				if err != nil {
					t.Fatalf("flush: Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no flush 10 s after Close")
			}
		})
	}
}

// TestMaxDelay: when no further Close comes, the timer flushes.
func TestMaxDelay(t *testing.T) {
	leak.AtEnd(t)
	set := stopClock(t)
	set(time.Now())
	Flush()
	_, server := pftest.RemotePair(t)
	c := signalled{server, make(chan error, 1)}
	start := time.Now()
	if err := Close(c); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.closed:
		if err != nil {
			t.Fatalf("flush: Close: %v", err)
		}
		if d := time.Since(start); d < MaxDelay/2 {
			t.Errorf("flushed after %v, before MaxDelay (%v)", d, MaxDelay)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no flush 10 s after Close")
	}
}

// TestCloseFallsBack: a Conn that is already closed, or has no descriptor,
// is closed the usual way and its error returned.
func TestCloseFallsBack(t *testing.T) {
	leak.AtEnd(t)
	a, _ := pftest.UnixPair(t)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	before := Pending()
	if err := Close(a); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Close of a closed conn: %v, want net.ErrClosed", err)
	}
	if Pending() != before {
		t.Error("a closed conn was queued")
	}
}

func waitReadable(fd int) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 10000)
	if err == nil && n == 0 {
		err = errors.New("no input within 10 s")
	}
	return err
}
