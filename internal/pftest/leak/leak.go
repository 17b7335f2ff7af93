// Package leak checks that a test gives back what it took: goroutines and
// open file descriptors. It needs nothing but the standard library, so
// that the tests of every package, the lowest ones too, can use it.
package leak

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// Baseline is the number of goroutines and open descriptors of the
// process at one moment.
type Baseline struct{ goroutines, fds int }

// Take records the process's goroutines and open descriptors now. Go's
// network poller, which keeps descriptors open for the life of the
// process, is started first so that it is counted in. Anything else of
// that kind (internal/park's poller) must be started before Take.
func Take(t testing.TB) Baseline {
	t.Helper()
	startNetpoll(t)
	return Baseline{runtime.NumGoroutine(), FDCount(t)}
}

// AtEnd takes a baseline now and checks it when the test has ended and
// its other cleanups have run.
func AtEnd(t testing.TB) {
	t.Helper()
	b := Take(t)
	t.Cleanup(func() { b.Check(t, "at the end of "+t.Name()) })
}

// Check waits (at most 10 s) until the goroutines and open descriptors
// are back at the baseline or below it, and fails the test, with every
// goroutine's stack, if they do not come back.
func (b Baseline) Check(t testing.TB, what string) {
	t.Helper()
	b.check(t, what, 1000)
}

// check looks up to tries times, 10 ms apart.
func (b Baseline) check(t testing.TB, what string, tries int) {
	t.Helper()
	var g, fds int
	for i := range tries {
		if i > 0 {
			time.Sleep(10 * time.Millisecond) // polling for exiting goroutines and closing sockets, bounded
		}
		g, fds = runtime.NumGoroutine(), FDCount(t)
		if g <= b.goroutines && fds <= b.fds {
			return
		}
	}
	var stacks []byte
	if g > b.goroutines {
		stacks = make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
	}
	t.Errorf("%s: goroutines %d -> %d, open descriptors %d -> %d\n%s", what, b.goroutines, g, b.fds, fds, stacks)
}

// FDCount returns how many descriptors the process has open. Without
// /proc the test is skipped.
func FDCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents) - 1 // the directory being read
}

// startNetpoll makes Go create its poller (an epoll descriptor and a
// wake-up descriptor) if it has not yet.
func startNetpoll(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	_ = r.SetDeadline(time.Now())
	r.Close()
	w.Close()
}
