// Package park lets idle connections wait for input without a goroutine.
//
// A Postfix tlsproxy spends most of its sessions waiting: postscreen(8)
// dialogues pause between commands, and smtp(8) keeps reused TLS
// connections open between deliveries. In Go a goroutine blocked in Read
// keeps its stack (several KiB) for as long as it waits; with thousands of
// waiting sessions the stacks are most of the process's memory. The C
// tlsproxy keeps one event loop instead. This package gives the relay the
// same shape for its waits: a direction that has seen no input for a
// while hands its socket to a Poller and ends its goroutine; when input
// arrives (or the peer hangs up) the Poller runs the direction's resume
// function in a new goroutine.
//
// The Poller is one epoll(7) instance served by one goroutine. Sockets stay
// owned by Go's net package (and its own poller); this package only adds a
// one-shot, level-triggered interest in readability, so no input that
// arrived before or during Wait is missed. The epoll instance is itself
// non-blocking and watched by Go's poller: the goroutine reads events
// without waiting in the kernel, so no thread sleeps in epoll_wait(2) and
// no wake-up has to hand the runtime's processor from one thread to
// another.
package park

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller hands parked connections back when they become readable.
type Poller struct {
	once    sync.Once
	initErr error
	epfd    int
	ep      *os.File        // epfd, in Go's poller; kept so that it stays open
	epRaw   syscall.RawConn // of ep
	broken  atomic.Bool     // the event loop failed; Wait refuses
	waits   atomic.Uint64

	mu     sync.Mutex
	next   uint64
	parked map[uint64]func()
}

// A Waiter is one connection's registration with a Poller. It is used by
// one goroutine at a time: the one that currently owns the connection's
// direction.
type Waiter struct {
	p     *Poller
	raw   syscall.RawConn
	added atomic.Bool   // the descriptor is in the epoll set (maybe disarmed)
	token atomic.Uint64 // of the current or last Wait; read by Cancel
}

// ErrClosed is returned by Wait when the connection was closed.
var ErrClosed = errors.New("park: connection closed")

var errBroken = errors.New("park: event loop failed")

// NewWaiter prepares c (a socket from the net package) for Wait.
func (p *Poller) NewWaiter(c syscall.Conn) (*Waiter, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &Waiter{p: p, raw: raw}, nil
}

// Start creates the epoll instance and its goroutine; Wait does it on
// first use. Both live as long as the process.
func (p *Poller) Start() error {
	p.once.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			p.initErr = fmt.Errorf("park: epoll_create1: %w", err)
			return
		}
		// Non-blocking, so that os.NewFile puts it in Go's poller.
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(fd)
			p.initErr = fmt.Errorf("park: epoll instance: %w", err)
			return
		}
		p.ep = os.NewFile(uintptr(fd), "park epoll")
		if p.epRaw, err = p.ep.SyscallConn(); err != nil {
			_ = p.ep.Close()
			p.initErr = fmt.Errorf("park: epoll instance: %w", err)
			return
		}
		p.epfd = fd
		// Under mu: a Cancel (take) may run at the same time, on a
		// Poller whose first Wait is still starting it.
		p.mu.Lock()
		p.parked = make(map[uint64]func())
		p.mu.Unlock()
		go p.loop()
	})
	return p.initErr
}

// Wait arranges for resume to run, in a new goroutine, once the connection
// is readable or hung up. After a nil return the caller must not touch the
// connection's direction any more: it belongs to whoever runs resume,
// which is either the Poller or a successful Cancel.
func (w *Waiter) Wait(resume func()) error {
	p := w.p
	if err := p.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.broken.Load() {
		p.mu.Unlock()
		return errBroken
	}
	p.next++
	token := p.next
	w.token.Store(token)
	p.parked[token] = resume
	p.mu.Unlock()
	p.waits.Add(1)

	// The token is registered before the interest is armed: an event
	// that fires at once still finds its function.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd: int32(uint32(token)), Pad: int32(uint32(token >> 32))}
	var ctlErr error
	err := w.raw.Control(func(fd uintptr) {
		// Once armed, the event may fire and a new owner run at
		// once: nothing after the epoll_ctl call may depend on w.
		if w.added.Load() {
			ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
			if ctlErr != unix.ENOENT {
				return
			}
		}
		w.added.Store(true)
		if ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); ctlErr != nil {
			w.added.Store(false)
		}
	})
	if err == nil && ctlErr != nil {
		err = fmt.Errorf("park: epoll_ctl: %w", ctlErr)
	}
	if err == nil {
		return nil
	}
	// Not armed: take the registration back. If somebody cancelled it
	// meanwhile, they resume the direction; that is still a success
	// for the caller, who must let go.
	if p.take(token) == nil {
		return nil
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, unix.EBADF) {
		return ErrClosed
	}
	return err
}

// Cancel takes back the current Wait if it has not fired yet. It returns
// the resume function that Wait was given, which the caller now owes a
// run (usually in a new goroutine), or nil if the Poller (or another
// Cancel) got there first. The interest may stay armed in the kernel; a
// late event for a cancelled Wait is ignored.
func (w *Waiter) Cancel() func() {
	return w.p.take(w.token.Load())
}

// Close removes the connection from the epoll set. Call it from the
// goroutine that owns the direction, before the connection is closed.
func (w *Waiter) Close() {
	if !w.added.Swap(false) {
		return
	}
	_ = w.raw.Control(func(fd uintptr) {
		_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// take removes a registration and returns its function, or nil.
func (p *Poller) take(token uint64) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.parked[token]
	delete(p.parked, token)
	return f
}

// Parked reports how many connections wait in the Poller (tests, logs).
func (p *Poller) Parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// Waits reports how many waits were registered since the start (tests,
// benchmarks).
func (p *Poller) Waits() uint64 { return p.waits.Load() }

// loop waits for events and resumes their connections; it runs for the
// life of the process. It collects events with a zero timeout and, when
// there are none, lets Go's poller wait for the epoll instance to become
// readable.
func (p *Poller) loop() {
	events := make([]unix.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := p.epRaw.Read(func(fd uintptr) bool {
			n, werr = pollNow(int(fd), events)
			if werr == unix.EINTR {
				n, werr = 0, nil
				return true // try again
			}
			return werr != nil || n > 0
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			// Cannot happen with a valid epfd; keep the parked
			// connections from hanging by waking them all.
			p.mu.Lock()
			p.broken.Store(true)
			fs := p.parked
			p.parked = make(map[uint64]func())
			p.mu.Unlock()
			for _, f := range fs {
				go f()
			}
			return
		}
		for _, ev := range events[:n] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if f := p.take(token); f != nil {
				go f()
			}
		}
	}
}

// pollNow collects the events that are ready without waiting. It is a raw
// system call: with a zero timeout it cannot block, and unlike
// unix.EpollWait it does not tell the scheduler of a system call, which
// would wake the runtime's monitor thread when the process had been idle
// (see internal/fdclose).
func pollNow(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
