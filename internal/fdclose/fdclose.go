// Package fdclose ends a session's sockets at once and gives their
// descriptors back in batches, so that ending a session does not wake the
// Go runtime's monitor thread.
//
// Closing an *os.File (or a net.Conn) goes through syscall.Close, which
// tells the Go scheduler that the goroutine enters a system call. When the
// runtime's monitor thread (sysmon) sleeps because the process had nothing
// to run, that notice wakes it, and a woken monitor polls every 20 µs for
// a while. A tlsproxy under load goes idle and busy again hundreds of
// times a second, and every session closes two sockets: profiled on the
// 2-CPU bench machine (RSA-2048 sessions under Postfix's defaults, 8 at a
// time), the two closes were four fifths of the process's system-call
// notices and kept the monitor waking about 3,000 times a second, a fifth
// of the process's context switches.
//
// Close here does the part the peer sees at once: dup3(2), a raw system
// call the scheduler does not hear of, puts a placeholder (an eventfd that
// nothing uses) on the socket's descriptor number, which drops the
// process's reference to the socket exactly as close(2) would (FIN, or
// RST when input was left unread; EOF for a UNIX-domain peer). The
// *os.File itself, now holding the placeholder, is closed later, by a
// flush that closes every file that waits, which releases Go's poller
// registration and the descriptor number: ending sessions start a flush
// at most every Delay (or when MaxPending wait), a timer after MaxDelay
// when sessions stop ending. One flush wakes the monitor at most once.
//
// Go's poller registered the socket, not the placeholder: the kernel drops
// that registration with the socket. When another process still holds the
// socket (a peer that passed it and kept its copy), the registration stays
// until that process closes it too: the flush's removal finds the
// placeholder and does nothing, and an event on the old socket carries a
// sequence tag that the poller no longer matches, so it is ignored.
//
// The caller must own the connection outright: no other goroutine may be
// reading, writing or waiting on it (a waiter would not be woken until the
// flush).
package fdclose

import (
	"io"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is what Close takes: an *os.File or a net.Conn.
type Conn interface {
	syscall.Conn
	io.Closer
}

// Delay is how often, at most, ending sessions start a flush: the first
// Close at least this long after the last flush starts the next one, for
// everything that waits.
const Delay = 100 * time.Millisecond

// MaxDelay bounds how long a descriptor waits when sessions stop ending:
// a timer flushes then.
const MaxDelay = time.Second

// MaxPending starts a flush at once when this many connections wait. A
// process holds at most about twice as many ended sessions' descriptors:
// those of a flush under way, and those that wait for the next.
const MaxPending = 32

// flushChunk is how many connections a flush closes before it lets other
// goroutines run: with one thread for Go code, a long flush would hold up
// every session's next step.
const flushChunk = 16

// placeholder is the descriptor that Close duplicates onto the ones it
// closes; -1 if it could not be made (Close then closes as usual). It is
// made when the package is initialised, before any test counts the
// process's descriptors.
var placeholder = func() int {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return -1
	}
	return fd
}()

// clock is time.Now, but for tests.
var clock = time.Now

var pending struct {
	sync.Mutex
	list  []io.Closer
	last  time.Time // of the last flush
	timer *time.Timer
}

// Close ends c's socket now and closes c itself at a later flush. The
// error is c.Close's when c could not be handled this way (it is then
// closed at once), else nil.
func Close(c Conn) error {
	if placeholder < 0 {
		return c.Close()
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return c.Close()
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.RawSyscall(unix.SYS_DUP3, uintptr(placeholder), fd, unix.O_CLOEXEC)
	}); err != nil || errno != 0 {
		return c.Close() // already closed, or not a descriptor dup3 takes
	}
	pending.Lock()
	pending.list = append(pending.list, c)
	now := clock()
	flush := len(pending.list) >= MaxPending || now.Sub(pending.last) >= Delay
	switch {
	case flush:
		pending.last = now // no other Close starts one meanwhile
	case len(pending.list) == 1:
		if pending.timer == nil {
			pending.timer = time.AfterFunc(MaxDelay, func() { Flush() })
		} else {
			pending.timer.Reset(MaxDelay)
		}
	}
	pending.Unlock()
	if flush {
		go Flush()
	}
	return nil
}

// Flush closes every connection that waits for it now and reports how
// many there were. The daemon calls it when it runs out of descriptors.
func Flush() int {
	pending.Lock()
	list := pending.list
	pending.list = nil
	pending.last = clock()
	if pending.timer != nil {
		pending.timer.Stop()
	}
	pending.Unlock()
	for i, c := range list {
		if i > 0 && i%flushChunk == 0 {
			runtime.Gosched()
		}
		_ = c.Close()
	}
	return len(list)
}

// Pending reports how many connections wait for a flush (tests).
func Pending() int {
	pending.Lock()
	defer pending.Unlock()
	return len(pending.list)
}
