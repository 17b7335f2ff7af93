package proxy

// Relay ownership: who may do what, and when.
//
// A relaying session has two directions (pumps): plaintext -> TLS and
// TLS -> plaintext. Each is in one of these states, and at any moment
// exactly one party owns it:
//
//   - running: a goroutine runs pump.run (started by relay, or by a
//     resume). It alone reads the direction's source and writes its
//     sink, and alone may call its Waiter's Wait and Close.
//   - parked: run saw no input for ParkAfter, called Waiter.Wait and
//     returned; no goroutine and no buffer. The direction belongs to
//     whoever takes the resume function back: the Poller when input (or
//     a hang-up) arrives, or stop through Waiter.Cancel.
//   - resumed: the Poller ran the resume function (pump.run) in a new
//     goroutine: running again, with the same rules.
//   - cancelled: stop's Cancel got the resume function first; stop runs
//     it in a new goroutine, which sees the stop flag and finishes. A
//     pump whose Wait raced with stop (the flag was up before the wait
//     was registered) cancels its own wait and finishes likewise.
//   - finished: run returned for good: it has closed its Waiter (before
//     any socket is closed), reported how the direction ended (ended),
//     and counted itself out (finished). The second direction to finish
//     logs a time limit, if one ended the session, and calls
//     session.free, which logs the end and closes both sockets. Nothing
//     else closes them once the relay has begun.
//
// Anyone may call stop (a direction that ends, the inactivity timer, a
// recovered panic); it runs once. The stop rule: the stopped flag goes up
// BEFORE the past deadlines that wake blocked reads and writes, and every
// copier checks the flag AFTER setting a deadline of its own, so that a
// deadline it sets cannot undo stop's unseen. Data a stopped direction
// still reads is dropped, never relayed.

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tlsproxy/internal/park"
)

// bufPool holds the full-size relay buffers, lent to a direction only
// while its traffic is bulk (see pump.copy).
var bufPool = sync.Pool{New: func() any { b := make([]byte, relayBufBytes); return &b }}

// smallPool holds the small buffers a running direction reads into while
// its traffic is small; a parked direction holds none.
var smallPool = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}

// errStopped ends a copier whose session is stopping. A deadline in the
// past wakes a blocked Read, but data that arrives before the woken
// goroutine runs is still returned; such data is dropped, never relayed.
var errStopped = errors.New("session stopping")

// errPark ends a copy loop that saw no input for the park delay.
var errPark = errors.New("no input: park")

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked Read
// or Write at once.
var aLongTimeAgo = time.Unix(1, 0)

// defaultPoller parks the idle directions of every Server that has none of
// its own.
var defaultPoller park.Poller

// defaultParkAfter is how long a direction waits for input with a
// goroutine before it parks. A quarter of a second: a burst of sessions
// that go quiet gives back its goroutines and their stacks sooner (1,000
// idle sessions opened one after another take 1.1 – 1.2 MB less resident
// memory than with a second), and a resume costs little (about 30 µs of
// CPU per direction); pauses within SMTP dialogues are mostly shorter.
const defaultParkAfter = 250 * time.Millisecond

// relayState is what the two directions of a relaying session share.
type relayState struct {
	ss      *session
	start   time.Time
	last    atomic.Int64 // nanoseconds since start of the last progress
	once    sync.Once
	stopped atomic.Bool  // set before the deadlines that wake the copiers
	timeout atomic.Value // the warning for a session ended by a time limit
	timer   *time.Timer  // inactivity
	running atomic.Int32 // directions not yet finished
	pumps   [2]*pump
}

// relay copies bytes both ways until one side ends, following Postfix's
// end-of-session rules:
//
//   - plaintext EOF (postscreen or smtp closed): send close_notify to the
//     remote peer, then close both sockets;
//   - remote EOF, close_notify or error: everything already decrypted has
//     been written to the plaintext side (writes are synchronous), then
//     both sockets close; no close_notify goes back.
//
// The session also ends when neither direction moved a byte for idleWait.
//
// relay returns at once: each direction runs in its own goroutine while
// it has traffic and parks (no goroutine at all) while it waits; the
// direction that finishes last ends the session (session.free).
func (ss *session) relay() bool {
	// What the hand-over needed is done with: the request reader and its
	// buffer, the second list and the TLS context sent to the client.
	// An idle session keeps only what the relay and free() use.
	ss.rd.Release() // its buffer serves the next session
	ss.rd, ss.props, ss.tlsAttrs = nil, nil, nil
	// The limits of the hand-over end here: from now on only the
	// inactivity timer and the per-write deadlines apply.
	_ = ss.plain.SetDeadline(time.Time{})
	rs := &relayState{ss: ss, start: time.Now()}
	rs.pumps[0] = rs.newPump("plaintext", ss.plain, ss.plain,
		func(b []byte) error { return writeAll(ss.tconn, ss.remote, b, ss.idleWait, &rs.stopped) }, rs.plainEnded)
	rs.pumps[1] = rs.newPump("ciphertext", ss.tconn, ss.remote,
		func(b []byte) error { return writeAll(ss.plain, ss.plain, b, ss.idleWait, &rs.stopped) }, rs.remoteEnded)

	// Inactivity: one timer per session, re-armed for the time that is
	// left whenever it fires early.
	rs.timer = time.AfterFunc(ss.idleWait, func() {
		idle := time.Since(rs.start) - time.Duration(rs.last.Load())
		if idle < ss.idleWait {
			rs.timer.Reset(ss.idleWait - idle)
			return
		}
		rs.timeout.CompareAndSwap(nil, "ciphertext read/write timeout for %s")
		rs.stop()
	})
	rs.running.Store(2)
	ss.relaying = true
	for _, p := range rs.pumps {
		go p.run()
	}
	return true
}

func (rs *relayState) touch() {
	rs.last.Store(int64(time.Since(rs.start)))
	if f := rs.ss.srv.onProgress; f != nil {
		f()
	}
}

// stop wakes both directions, parked or blocked; the last one to finish
// releases the sockets.
func (rs *relayState) stop() {
	rs.once.Do(func() {
		rs.stopped.Store(true)
		_ = rs.ss.plain.SetDeadline(aLongTimeAgo)
		_ = rs.ss.remote.SetDeadline(aLongTimeAgo)
		for _, p := range rs.pumps {
			if p.waiter != nil {
				if resume := p.waiter.Cancel(); resume != nil {
					go resume()
				}
			}
		}
	})
}

// plainEnded handles the end of plaintext -> TLS.
func (rs *relayState) plainEnded(err error) {
	ss := rs.ss
	switch {
	case errors.Is(err, errStopped):
		return // the other direction is stopping the session
	case errors.Is(err, os.ErrDeadlineExceeded) && !rs.stopped.Load():
		// A write to the remote took the whole idle limit.
		rs.timeout.CompareAndSwap(nil, "ciphertext read/write timeout for %s")
	case !rs.stopped.Load():
		// The plaintext side ended (EOF or error): Postfix calls
		// SSL_shutdown once (our close_notify) without waiting for the
		// peer's, and closes both sides; nothing the remote sends from
		// now on may reach the plaintext side. The flag goes up first
		// (the other direction drops what it reads from now on, and
		// leaves the stopping to us), the close_notify goes out, and
		// only then do the deadlines wake it, so that they cannot cut
		// the alert short.
		rs.stopped.Store(true)
		_ = ss.remote.SetWriteDeadline(time.Now().Add(ioTimeout))
		_ = ss.tconn.CloseWrite()
	}
	rs.stop()
}

// remoteEnded handles the end of TLS -> plaintext.
func (rs *relayState) remoteEnded(err error) {
	switch {
	case errors.Is(err, errStopped):
		return // the other direction is stopping the session
	case errors.Is(err, os.ErrDeadlineExceeded) && !rs.stopped.Load():
		// The plaintext side stopped reading for the whole limit.
		rs.timeout.CompareAndSwap(nil, "deadlock on plaintext stream for %s")
	case err != nil && !rs.stopped.Load() && !closedConn(err):
		rs.ss.logLibraryProblem(err)
	}
	rs.stop()
}

// finished runs when a direction is done; the second one ends the session.
func (rs *relayState) finished() {
	if rs.running.Add(-1) != 0 {
		return
	}
	rs.timer.Stop()
	if format, ok := rs.timeout.Load().(string); ok {
		rs.ss.srv.Log.Warnf(format, rs.ss.endpoint)
	}
	rs.ss.free()
}

// pump is one direction of the relay. At any time at most one goroutine
// runs it: the one started by relay, or one started by its Waiter when
// input arrived after it parked.
type pump struct {
	rs     *relayState
	name   string    // "plaintext" or "ciphertext", for panic reports
	src    io.Reader // ss.plain, or ss.tconn over ss.remote
	sock   net.Conn  // the socket under src: deadlines and parking
	write  func([]byte) error
	ended  func(error)
	waiter *park.Waiter // nil: this direction never parks
	noPark bool         // parking failed once: wait with a goroutine
}

func (rs *relayState) newPump(name string, src io.Reader, sock net.Conn, write func([]byte) error, ended func(error)) *pump {
	p := &pump{rs: rs, name: name, src: src, sock: sock, write: write, ended: ended}
	if srv := rs.ss.srv; srv.ParkAfter >= 0 {
		poller := srv.Poller
		if poller == nil {
			poller = &defaultPoller
		}
		if sc, ok := sock.(syscall.Conn); ok {
			p.waiter, _ = poller.NewWaiter(sc)
		}
	}
	return p
}

// run copies until the direction ends or parks.
func (p *pump) run() {
	err := p.guarded()
	if errors.Is(err, errPark) {
		// Wait hands the direction to the poller, which starts run
		// again when input arrives, or to stop(), which cancels the
		// wait; either way we let go of it at once. A stop() that
		// came before the wait was registered cannot have cancelled
		// it: we take it back ourselves and go on stopping.
		if werr := p.waiter.Wait(p.run); werr == nil {
			if p.rs.stopped.Load() {
				if resume := p.waiter.Cancel(); resume != nil {
					resume()
				}
			}
			return
		}
		// Cannot park (should not happen): wait with this goroutine.
		p.noPark = true
		err = p.guarded()
	}
	if p.waiter != nil {
		p.waiter.Close()
	}
	p.ended(err)
	p.rs.finished()
}

// guarded runs copy; a panic in it ends this session only, like one in
// Serve.
func (p *pump) guarded() (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.rs.ss.srv.Log.Warnf("%s relay for %s ended by internal error: %v\n%s", p.name, p.rs.ss.endpoint, r, debug.Stack())
			err = errStopped
			p.rs.stop()
		}
	}()
	return p.copy()
}

// smallBuf is what a direction reads into while its traffic is small
// (SMTP commands and replies). Sessions spend most of their life waiting
// (postscreen dialogues, smtp connection reuse); a waiting direction parks
// without any buffer, a direction with small traffic reads into a small
// one, and a pooled full-record buffer is taken only while reads fill the
// small one, and given back when traffic is small again.
const smallBuf = 1024

// copy copies from the source through write until EOF (nil), an error,
// the session's stop flag (errStopped; checked after every Read, and data
// that a stopped session's Read still returns is dropped, never relayed),
// or, for a direction that may park, no input for the park delay (errPark).
func (p *pump) copy() error {
	rs := p.rs
	parkAfter := rs.ss.srv.ParkAfter
	if parkAfter == 0 {
		parkAfter = defaultParkAfter
	}
	mayPark := p.waiter != nil && !p.noPark
	if !mayPark {
		_ = p.sock.SetReadDeadline(time.Time{})
	}
	small := smallPool.Get().(*[]byte)
	buf := *small
	var pooled *[]byte
	defer func() {
		if pooled != nil {
			bufPool.Put(pooled)
		}
		smallPool.Put(small)
	}()
	for {
		if mayPark {
			// The park delay is the only read deadline: stop() wakes
			// us with one in the past, which must not be undone, so
			// the flag is checked after ours is set.
			if err := p.sock.SetReadDeadline(time.Now().Add(parkAfter)); err != nil {
				return err
			}
		}
		if rs.stopped.Load() {
			return errStopped
		}
		n, err := p.src.Read(buf)
		if rs.stopped.Load() {
			return errStopped
		}
		if n > 0 {
			rs.touch()
			if werr := p.write(buf[:n]); werr != nil {
				return werr
			}
			rs.touch()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if mayPark && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				return errPark
			}
			return err
		}
		switch {
		case pooled == nil && n == len(buf):
			pooled = bufPool.Get().(*[]byte)
			buf = *pooled
		case pooled != nil && n < smallBuf:
			bufPool.Put(pooled)
			pooled, buf = nil, *small
		}
	}
}

// writeAll writes b to w with a deadline on the socket under it, so that a
// peer that stops reading cannot hold the session forever.
func writeAll(w io.Writer, sock net.Conn, b []byte, limit time.Duration, stopped *atomic.Bool) error {
	if err := sock.SetWriteDeadline(time.Now().Add(limit)); err != nil {
		return err
	}
	// stop() raises the flag before it sets its past deadlines: checked
	// after our deadline, the flag tells whether ours undid stop()'s.
	if stopped.Load() {
		return errStopped
	}
	_, err := w.Write(b)
	return err
}

// closedConn reports errors that are a normal way for a session to end:
// a reset, a broken pipe, or our own stop.
func closedConn(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
