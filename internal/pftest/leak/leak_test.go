package leak

import (
	"os"
	"testing"
)

// fakeT records failures instead of failing the test around it.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

func TestCheck(t *testing.T) {
	b := Take(t)
	// Nothing taken: passes at once.
	b.Check(t, "nothing")

	// A descriptor kept open fails; closed, it passes again.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if got := FDCount(t); got != b.fds+2 {
		t.Errorf("FDCount = %d after a pipe, want %d", got, b.fds+2)
	}
	open := &fakeT{TB: t}
	b.check(open, "open pipe", 1)
	if !open.failed {
		t.Error("an open pipe did not fail the check")
	}
	r.Close()
	w.Close()
	b.Check(t, "closed pipe")

	// A goroutine still running when Check gives up fails it. To keep
	// the test short, the baseline is made one goroutine too small.
	f := &fakeT{TB: t}
	small := Baseline{goroutines: b.goroutines - 1, fds: b.fds}
	small.check(f, "one goroutine too many", 1)
	if !f.failed {
		t.Error("a goroutine above the baseline did not fail the check")
	}
}
