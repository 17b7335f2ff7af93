package proxy

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
)

// bufPool holds the full-size relay buffers, lent to a direction only
// while its traffic is bulk (see copyData).
var bufPool = sync.Pool{New: func() any { b := make([]byte, relayBufBytes); return &b }}

// errStopped ends a copier whose session is stopping. A deadline in the
// past wakes a blocked Read, but data that arrives before the woken
// goroutine runs is still returned; such data is dropped, never relayed.
var errStopped = errors.New("session stopping")

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked Read
// or Write at once.
var aLongTimeAgo = time.Unix(1, 0)

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
func (ss *session) relay() {
	ss.rd = nil // the request reader and its buffer are done with
	// The limits of the hand-over end here: from now on only the
	// inactivity timer and the per-write deadlines apply.
	_ = ss.plain.SetDeadline(time.Time{})
	var (
		start   = time.Now()
		last    atomic.Int64 // nanoseconds since start of the last progress
		once    sync.Once
		stopped atomic.Bool  // set before the deadlines that wake the copiers
		timeout atomic.Value // the warning for a session ended by a time limit
		done    = make(chan struct{}, 2)
	)
	touch := func() {
		last.Store(int64(time.Since(start)))
		if ss.srv.Pat != nil {
			ss.srv.Pat()
		}
	}
	// stop wakes both directions; the deferred session close releases
	// the sockets afterwards.
	stop := func() {
		once.Do(func() {
			stopped.Store(true)
			_ = ss.plain.SetDeadline(aLongTimeAgo)
			_ = ss.remote.SetDeadline(aLongTimeAgo)
		})
	}

	// Inactivity: one timer per session, re-armed for the time that is
	// left whenever it fires early.
	var timer *time.Timer
	timer = time.AfterFunc(ss.idleWait, func() {
		idle := time.Since(start) - time.Duration(last.Load())
		if idle < ss.idleWait {
			timer.Reset(ss.idleWait - idle)
			return
		}
		timeout.CompareAndSwap(nil, "ciphertext read/write timeout for %s")
		stop()
	})
	defer timer.Stop()

	// A panic in a copier ends this session only, like one in Serve.
	guard := func(dir string) {
		if p := recover(); p != nil {
			ss.srv.Log.Warnf("%s relay for %s ended by internal error: %v\n%s", dir, ss.endpoint, p, debug.Stack())
			stop()
		}
	}

	// plaintext -> TLS
	go func() {
		defer func() { done <- struct{}{} }()
		defer guard("plaintext")
		err := copyPlainToTLS(ss, touch, &stopped)
		switch {
		case errors.Is(err, errStopped):
			return // the other copier is stopping the session
		case errors.Is(err, os.ErrDeadlineExceeded) && !stopped.Load():
			// A write to the remote took the whole idle limit.
			timeout.CompareAndSwap(nil, "ciphertext read/write timeout for %s")
		case !stopped.Load():
			// The plaintext side ended (EOF or error): Postfix calls
			// SSL_shutdown once (our close_notify) without waiting
			// for the peer's, and closes both sides; nothing the
			// remote sends from now on may reach the plaintext side.
			// The flag goes up first (the other copier drops what it
			// reads from now on, and leaves the stopping to us), the
			// close_notify goes out, and only then do the deadlines
			// wake it, so that they cannot cut the alert short.
			stopped.Store(true)
			_ = ss.remote.SetWriteDeadline(time.Now().Add(ioTimeout))
			_ = ss.tconn.CloseWrite()
		}
		stop()
	}()
	// TLS -> plaintext
	go func() {
		defer func() { done <- struct{}{} }()
		defer guard("ciphertext")
		err := copyTLSToPlain(ss, touch, &stopped)
		switch {
		case errors.Is(err, errStopped):
			return // the other copier is stopping the session
		case errors.Is(err, os.ErrDeadlineExceeded) && !stopped.Load():
			// The plaintext side stopped reading for the whole limit.
			timeout.CompareAndSwap(nil, "deadlock on plaintext stream for %s")
		case err != nil && !stopped.Load() && !closedConn(err):
			ss.srv.Log.Warnf("TLS library problem: %v", err)
		}
		stop()
	}()
	<-done
	<-done
	if format, ok := timeout.Load().(string); ok {
		ss.srv.Log.Warnf(format, ss.endpoint)
	}
}

// copyPlainToTLS forwards plaintext from the Postfix client to the remote
// peer. It returns nil at plaintext EOF.
func copyPlainToTLS(ss *session, touch func(), stopped *atomic.Bool) error {
	return copyData(ss.plain, func(b []byte) error { return writeAll(ss.tconn, ss.remote, b, ss.idleWait, stopped) }, touch, stopped)
}

// copyTLSToPlain forwards decrypted data from the remote peer to the
// Postfix client. It returns nil at the remote's EOF or close_notify.
func copyTLSToPlain(ss *session, touch func(), stopped *atomic.Bool) error {
	return copyData(ss.tconn, func(b []byte) error { return writeAll(ss.plain, ss.plain, b, ss.idleWait, stopped) }, touch, stopped)
}

// smallBuf is what a direction reads into while its traffic is small
// (SMTP commands and replies). Sessions spend most of their life waiting
// (postscreen dialogues, smtp connection reuse), so they wait on this
// small buffer; a pooled full-record buffer is taken only while reads
// fill the small one, and given back when traffic is small again.
const smallBuf = 1024

// copyData copies from r through write until EOF (nil), an error, or the
// session's stop flag, which is checked after every Read: data that a
// stopped session's Read still returns is dropped, never relayed.
func copyData(r io.Reader, write func([]byte) error, touch func(), stopped *atomic.Bool) error {
	small := make([]byte, smallBuf)
	buf := small
	var pooled *[]byte
	defer func() {
		if pooled != nil {
			bufPool.Put(pooled)
		}
	}()
	for {
		n, err := r.Read(buf)
		if stopped.Load() {
			return errStopped
		}
		if n > 0 {
			touch()
			if werr := write(buf[:n]); werr != nil {
				return werr
			}
			touch()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case pooled == nil && n == len(buf):
			pooled = bufPool.Get().(*[]byte)
			buf = *pooled
		case pooled != nil && n < smallBuf:
			bufPool.Put(pooled)
			pooled, buf = nil, small
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
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
