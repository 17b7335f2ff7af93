package daemon

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// TestTableChangeDrains: a changed table seen when a connection arrives
// makes the process serve that connection, log Postfix's line and drain.
func TestTableChangeDrains(t *testing.T) {
	for _, changed := range []string{"", "hash:/etc/postfix/sni(0,lock|fold_fix|src_rhs_is_file)"} {
		d, path, conns := setup(t)
		var asked atomic.Int32
		d.Changed = func() string { asked.Add(1); return changed }
		d.MaxUse = 1 // ends the unchanged run after one session
		done := start(d)
		c := dial(t, path)
		<-conns // the connection that saw the change is served
		c.Close()
		r := wait(t, done)
		want := EndUse
		if changed != "" {
			want = EndDrained
		}
		if r.reason != want || r.err != nil {
			t.Errorf("changed=%q: Run = %q, %v; want %q", changed, r.reason, r.err, want)
		}
		if asked.Load() != 1 {
			t.Errorf("changed=%q: Changed asked %d times, want 1", changed, asked.Load())
		}
		log := d.Log.(*nopLog)
		wantLog := "[]"
		if changed != "" {
			wantLog = fmt.Sprintf("[table %s has changed - finishing in the background]", changed)
		}
		if got := fmt.Sprint(log.lines); got != wantLog {
			t.Errorf("changed=%q: log %s, want %s", changed, got, wantLog)
		}
	}
}
