package bench

import (
	"syscall"
	"testing"
)

// TestOneProcessSessions: the count fits two descriptors per session and
// the spare ones under the hard limit, and is 10,000 when the limit
// allows it.
func TestOneProcessSessions(t *testing.T) {
	n, hard := OneProcessSessions()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if hard != lim.Max {
		t.Errorf("hard limit %d, want %d", hard, lim.Max)
	}
	switch {
	case n < 0 || n > 10000 || n%100 != 0:
		t.Errorf("n = %d: want a multiple of 100 in [0, 10000]", n)
	case uint64(2*n+100) > hard:
		t.Errorf("n = %d needs more than %d descriptors", n, hard)
	case hard >= 20100 && n != 10000:
		t.Errorf("n = %d with a hard limit of %d, want 10000", n, hard)
	}
}
