// Package daemon is the process skeleton that Postfix's event_server(3)
// gives tlsproxy: it accepts plaintext clients on the socket master(8)
// passed as fd 6, tells master when it takes and frees a connection, hands
// each connection to a goroutine (reused from an earlier connection when
// one is free; the handler reports the session's end through a callback,
// as a relay goes on without it), returns free memory to the kernel when
// connections stop arriving, and decides when the process ends:
//
//   - master goes away or runs "postfix reload"/"postfix stop" (EOF on the
//     status socket, fd 5): stop accepting, let open sessions finish, exit;
//   - max_idle: no client for that long, exit;
//   - max_use: that many sessions have ended and none is open, exit;
//     with HandOver set and max_use at least 10, first tell master the
//     process is busy (so that master starts the next one as the next
//     connection arrives) and go on accepting for HandOver or max_use/10
//     more connections, whichever comes first, then drain: a connection
//     that arrives meanwhile does not wait for the next process to start;
//   - retirement (3.4+): after max_idle × max_use, drain as on reload;
//   - out of descriptors (accept fails with EMFILE or ENFILE): log
//     Postfix's error, tell master the process is busy, drain as on
//     reload, so that master's next process takes the new connections;
//   - watchdog: the loop that does all of the above must come round at
//     least once every tlsproxy_watchdog_timeout, else the process logs
//     "fatal: watchdog timeout" and exits (a stuck process helps nobody).
//
// Unlike Postfix, the drain does not fork: the same process stops
// listening and exits as soon as its last session has ended.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tlsproxy/internal/fdclose"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/sockio"
)

// Notifier tells master(8) about availability (master.Status).
type Notifier interface {
	Taken() error
	Available() error
}

// Daemon is one tlsproxy process's accept loop and lifetime rules.
type Daemon struct {
	// Listener is the socket to accept on. Run takes it over: it closes
	// it (leaving the socket file) and accepts on a duplicate.
	Listener   *net.UnixListener
	Status     Notifier        // nil: no master (tests)
	MasterGone <-chan struct{} // closed on EOF of fd 5; nil: never
	// Handle serves one connection, a non-blocking *os.File served by
	// Go's poller; it may return before the session has ended (a relay
	// needs no goroutine while it waits), and calls done exactly once
	// when it has.
	Handle func(ctx context.Context, c *os.File, done func())
	// Changed, when set, names a lookup table that has changed on disk
	// ("" if none). It is asked at most once a second, when a connection
	// arrives; a name makes the process log Postfix's line and drain
	// (finish its sessions, then exit), as postscreen(8) does.
	Changed func() string
	Log     logs.Logger

	// TrimAfter: once no connection has arrived for this long after
	// some did, the process collects garbage and returns free memory to
	// the kernel (waiting sessions then cost only what they hold); 0:
	// leave it to the Go runtime.
	TrimAfter time.Duration
	// Trim replaces debug.FreeOSMemory (tests).
	Trim func()

	MaxIdle time.Duration // 0: no idle exit
	MaxUse  int           // 0: unlimited
	// HandOver is how long a process that has reached MaxUse goes on
	// accepting after it told master it is busy, while master starts
	// its successor; it should exceed a process's start (about 12 ms
	// from exec to the first accept on the measured machine). It also
	// ends after MaxUse/10 more connections, so that a process serves at
	// most a tenth more than max_use through it (none below 10, where
	// max_use = 1 means a process per session). 0: stop accepting at
	// once, as Postfix's processes do.
	HandOver time.Duration
	Retire   time.Duration // 0: never
	Watchdog time.Duration // 0: no watchdog
	// OnWatchdog is called, after "fatal: watchdog timeout" was logged,
	// from the watchdog's own goroutine when the loop is stuck; it must
	// end the process (cmd/tlsproxy exits 1). Tests observe it.
	OnWatchdog func()
}

// Reasons Run gives for a normal end.
const (
	EndIdle    = "idle"
	EndUse     = "use limit"
	EndDrained = "drained"
)

// Run serves until one of the end conditions holds and every session it
// started has ended. It returns the reason.
func (d *Daemon) Run(ctx context.Context) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The accept goroutine waits on a duplicate of the listening socket,
	// as a net.UnixListener offers no raw reads (see accept); the
	// listener itself is closed at once, so that the process holds one
	// descriptor of the socket, and draining closes that one. The socket
	// file stays: it is master's.
	lf, err := d.Listener.File()
	d.Listener.SetUnlinkOnClose(false)
	_ = d.Listener.Close()
	if err != nil {
		return "", fmt.Errorf("listening socket: %w", err)
	}
	lrc, err := lf.SyscallConn()
	if err != nil {
		lf.Close()
		return "", fmt.Errorf("listening socket: %w", err)
	}
	var closing atomic.Bool
	accepted := make(chan *os.File)
	acceptErr := make(chan error, 1)
	outOfFDs := make(chan error, 1)
	go func() {
		var backoff time.Duration
		for {
			c, err := d.accept(lrc)
			if err != nil {
				if closing.Load() { // drain closed lf
					acceptErr <- err
					return
				}
				if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
					if fdclose.Flush() > 0 {
						continue // descriptors of ended sessions came free
					}
					outOfFDs <- err // the loop drains: this goroutine is done
					return
				}
				// Transient (ECONNABORTED…): back off like
				// net/http, 5 ms doubling to 1 s.
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else if backoff *= 2; backoff > time.Second {
					backoff = time.Second
				}
				d.Log.Warnf("accept connection: %v", err)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return
				}
			}
			backoff = 0
			select {
			case accepted <- c:
			case <-ctx.Done():
				_ = c.Close()
				return
			}
		}
	}()

	var (
		wg       sync.WaitGroup
		ended    = make(chan struct{}, 64)
		clients  int
		used     int
		draining bool
		idle     = newTimer(d.MaxIdle)
		retire   = newTimer(d.Retire)
		handOver = newTimer(d.HandOver)
		// handOverLeft > 0: past max_use, master told, still
		// accepting that many connections (the hand-over)
		handOverLeft int
		quiet        = newTimer(d.TrimAfter)
		tick         <-chan time.Time
		// when Changed was last asked
		lastChanged time.Time
	)
	defer idle.Stop()
	defer retire.Stop()
	handOver.Stop() // armed at max_use
	defer handOver.Stop()
	quiet.Stop() // armed by the first connection
	defer quiet.Stop()
	trim := d.Trim
	if trim == nil {
		trim = debug.FreeOSMemory
	}
	var trimming atomic.Bool
	if d.Watchdog > 0 {
		t := time.NewTicker(d.Watchdog / 3)
		defer t.Stop()
		tick = t.C
	}
	wd := d.startWatchdog(ctx)
	workers := newWorkers(workerIdle)
	defer workers.stop()

	drain := func() {
		if draining {
			return
		}
		draining = true
		closing.Store(true)
		_ = lf.Close()
		idle.Stop()
	}
	masterGone := d.MasterGone
	reason := EndDrained
	acceptDone := false // the accept goroutine has returned

	for {
		wd.pat()
		// The loop ends only once the accept goroutine is done: a
		// connection it accepted is served, never closed unanswered
		// (the listening socket is master's, so anything not accepted
		// waits for the next process).
		if draining && clients == 0 && acceptDone {
			wg.Wait()
			return reason, nil
		}
		if !draining && handOverLeft == 0 && d.MaxUse > 0 && used >= d.MaxUse && clients == 0 {
			reason = EndUse
			if d.Status == nil || d.HandOver <= 0 || d.MaxUse/10 == 0 {
				drain()
				continue
			}
			handOverLeft = d.MaxUse / 10
			if err := d.Status.Taken(); err != nil {
				drain()
				continue
			}
			handOver.Reset()
			continue
		}
		select {
		case c := <-accepted:
			if !draining && d.Changed != nil && time.Since(lastChanged) >= time.Second {
				lastChanged = time.Now()
				if name := d.Changed(); name != "" {
					d.Log.Infof("table %s has changed - finishing in the background", name)
					drain()
				}
			}
			idle.Stop()
			quiet.Reset()
			clients++
			// A process in its hand-over has told master it is
			// busy for good: no more status for each connection.
			if d.Status != nil && !draining && handOverLeft == 0 {
				if err := d.Status.Taken(); err != nil {
					drain()
				}
			}
			wg.Add(1)
			workers.run(func() {
				d.Handle(ctx, c, func() {
					ended <- struct{}{}
					wg.Done()
				})
			})
			if d.Status != nil && !draining && handOverLeft == 0 {
				if err := d.Status.Available(); err != nil {
					// master is gone: same as EOF on fd 5.
					drain()
				}
			}
			if handOverLeft > 0 && !draining {
				if handOverLeft--; handOverLeft == 0 {
					drain()
				}
			}
		case <-ended:
			clients--
			used++
			if clients == 0 && !draining {
				idle.Reset()
			}
		case <-acceptErr:
			acceptDone = true
			drain()
		case err := <-outOfFDs:
			// Out of descriptors. Postfix logs the error and, as it
			// comes back at once, soon dies of too many errors, so that
			// master starts a fresh process. Here the process tells
			// master it is busy, stops accepting and exits once its
			// sessions have ended: the next connection goes to a new
			// process, and no session is lost.
			acceptDone = true
			d.Log.Errorf("accept connection: %s", errnoText(err))
			if !draining {
				d.Log.Warnf("out of file descriptors: no longer accepting connections, exiting after the %d open session(s)", clients)
				if d.Status != nil {
					_ = d.Status.Taken()
				}
			}
			drain()
		case <-masterGone:
			masterGone = nil
			drain()
		case <-idle.C():
			if clients == 0 && !draining {
				reason = EndIdle
				drain()
			}
		case <-retire.C():
			drain()
		case <-handOver.C():
			drain()
		case <-quiet.C():
			// Out of the loop: a collection of a large heap takes
			// a while, and the loop must keep accepting.
			if trimming.CompareAndSwap(false, true) {
				go func() {
					defer trimming.Store(false)
					trim()
				}()
			}
		case <-tick:
			// Keeps the loop coming round while nothing happens, so
			// that only a stuck loop trips the watchdog.
		}
	}
}

// accept takes the next connection. The accept(2) is a raw system call
// (internal/sockio): Go's net package would tell the scheduler about it,
// and on a process with one processor that wakes the runtime's monitor
// thread for almost every connection. Errors are worded as net's.
func (d *Daemon) accept(rc syscall.RawConn) (*os.File, error) {
	c, err := sockio.Accept(rc)
	if err != nil {
		return nil, sockio.OpError("accept", "accept4", "unix", nil, d.Listener.Addr(), err)
	}
	return c, nil
}

// workerIdle is how long a connection goroutine waits for the next
// connection before it ends.
const workerIdle = time.Second

// workers runs each connection's Handle on a goroutine that served an
// earlier one when one is free. Handle returns once a session's handshake
// is done (the relay goes on without it), and a goroutine that has run a
// TLS handshake has the stack for the next one: a fresh goroutine would
// grow its stack, copying it several times, in every handshake.
type workers struct {
	jobs chan func()
	quit chan struct{}
	idle time.Duration
}

func newWorkers(idle time.Duration) *workers {
	return &workers{jobs: make(chan func()), quit: make(chan struct{}), idle: idle}
}

// run hands job to a free goroutine, or starts one.
func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w *workers) work(job func()) {
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		job()
		t.Reset(w.idle)
		select {
		case job = <-w.jobs:
		case <-t.C:
			return
		case <-w.quit:
			return
		}
	}
}

// stop ends the free goroutines (busy ones end after their job).
func (w *workers) stop() { close(w.quit) }

// timer is a resettable optional timer; a zero duration never fires.
type timer struct {
	d time.Duration
	t *time.Timer
}

func newTimer(d time.Duration) *timer {
	tm := &timer{d: d}
	if d > 0 {
		tm.t = time.NewTimer(d)
	}
	return tm
}

func (tm *timer) C() <-chan time.Time {
	if tm.t == nil {
		return nil
	}
	return tm.t.C
}

func (tm *timer) Stop() {
	if tm.t != nil {
		tm.t.Stop()
	}
}

func (tm *timer) Reset() {
	if tm.t != nil {
		tm.t.Reset(tm.d)
	}
}

// errnoText words a system error as strerror(3) does (what Postfix's %m
// logs): "Too many open files".
func errnoText(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	t := errno.Error()
	if t != "" && t[0] >= 'a' && t[0] <= 'z' {
		t = string(t[0]-'a'+'A') + t[1:]
	}
	return t
}
