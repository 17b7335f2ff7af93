package daemon

import (
	"context"
	"sync/atomic"
	"time"
)

// watchdog mirrors Postfix's watchdog(3): the main loop pats it on every
// pass; if no pat arrives for the whole timeout (checked in three steps of
// a third each, as Postfix does) the process is declared stuck. The check
// runs in its own goroutine, because the loop it watches is the one that
// cannot act.
type watchdog struct {
	start time.Time
	last  atomic.Int64 // time since start of the last pat, in ns
}

func (w *watchdog) pat() {
	if w != nil {
		w.last.Store(int64(time.Since(w.start)))
	}
}

func (d *Daemon) startWatchdog(ctx context.Context) *watchdog {
	w := &watchdog{start: time.Now()}
	if d.Watchdog <= 0 {
		return w
	}
	go func() {
		t := time.NewTicker(d.Watchdog / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				idle := time.Since(w.start) - time.Duration(w.last.Load())
				if idle >= d.Watchdog {
					d.Log.Fatalf("watchdog timeout")
					if d.OnWatchdog != nil {
						d.OnWatchdog()
					}
					return
				}
			}
		}
	}()
	return w
}
