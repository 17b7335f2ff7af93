package maillog

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Discard returns a Logger that writes nothing.
func Discard() *Logger {
	l, _ := newLogger(Options{Ident: "discard", Pid: 1})
	return l
}

// NewRecorder returns a Logger for tests of other packages together with
// the Recorder that keeps its records. Records are kept synchronously,
// in order, as "[severity: ]text" (no header). Debugf records are kept
// only after SetVerbose(n > 0), as with any Logger.
func NewRecorder() (*Logger, *Recorder) {
	r := &Recorder{changed: make(chan struct{})}
	l, _ := newLogger(Options{Ident: "recorder", Pid: 1})
	l.rec = r
	return l, r
}

// Recorder holds the records of a Logger made by NewRecorder.
type Recorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every add
}

func (r *Recorder) add(line string) {
	r.mu.Lock()
	r.lines = append(r.lines, line)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Lines returns a copy of the records so far.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Wait blocks until a record containing substr has been logged (possibly
// already) or ctx is done; it returns ctx's error wrapped with the
// records seen so far in the latter case.
func (r *Recorder) Wait(ctx context.Context, substr string) error {
	seen := 0
	for {
		r.mu.Lock()
		lines, changed := r.lines, r.changed
		r.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if strings.Contains(lines[seen], substr) {
				return nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for log record %q (have %q): %w", substr, lines, ctx.Err())
		}
	}
}
