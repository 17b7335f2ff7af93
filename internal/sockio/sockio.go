// Package sockio makes the socket system calls of a session (accept,
// read, write, recvmsg, send, poll) without telling the Go scheduler that
// a system call is under way.
//
// A system call made through the scheduler costs more than the call on a
// process with one Go processor (tlsproxy's default on small machines):
// if the process was idle, the runtime's monitor thread (sysmon) had gone
// to sleep and is woken (a futex call and a thread switch), and it then
// polls every 20 µs until the process is idle again; and a call that lasts
// longer than that (a loopback write does the receiver's TCP work inside
// the call) has its processor handed to another thread and back. Calls on
// non-blocking sockets never block, so the ones here are raw system calls
// made from inside syscall.RawConn's Read, Write and Control callbacks: Go's
// poller still waits for readiness and applies deadlines, and the thread
// keeps its processor for the few microseconds a call takes. Race builds
// tell the race detector what the calls read and write (race.go).
package sockio

import (
	"errors"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// maxWrite bounds one raw write, so that a single call never keeps the
// processor for long (a 16 KiB TLS record is the usual size).
const maxWrite = 64 << 10

// Read reads once from the socket under rc into b, waiting in Go's poller
// while nothing is there. It returns 0, nil at the end of the stream. The
// descriptor must be non-blocking and served by Go's poller (as for every
// function here that waits): a raw call on a blocking descriptor would
// hold the processor while it blocks.
func Read(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := waitRead(rc, syscall.SYS_READ, unsafe.Pointer(&b[0]), uintptr(len(b)), 0, 0)
	if err != nil {
		return 0, err
	}
	raceAcquireRead(b[:n])
	return n, nil
}

// Write writes all of b to the socket under rc, waiting in Go's poller
// while the socket's buffer is full. It returns how much was written.
func Write(rc syscall.RawConn, b []byte) (int, error) {
	raceReleaseWrite(b)
	var n int
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			chunk := len(b) - n
			if chunk > maxWrite {
				chunk = maxWrite
			}
			r, e := retry(syscall.SYS_WRITE, fd, unsafe.Pointer(&b[n]), uintptr(chunk), 0, 0)
			switch e {
			case 0:
				n += int(r)
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, err
	}
	if errno != 0 {
		return n, errno
	}
	return n, nil
}

// WriteOnce makes one write attempt of b to the socket under rc and
// reports how much went out; a full buffer is syscall.EAGAIN. For
// datagram sockets, where one write is one record.
func WriteOnce(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	raceReleaseWrite(b)
	var n int
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		r, e := retry(syscall.SYS_WRITE, fd, unsafe.Pointer(&b[0]), uintptr(len(b)), 0, 0)
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// Recvmsg reads one message with its control data from the socket under
// rc, waiting in Go's poller while nothing is there; descriptors arrive
// close-on-exec. It returns the data and control lengths and the
// message flags (MSG_CTRUNC and the like); 0 bytes with no control data
// is the end of the stream.
func Recvmsg(rc syscall.RawConn, p, oob []byte) (n, oobn, flags int, err error) {
	var msg syscall.Msghdr
	var iov syscall.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
		msg.Iov, msg.Iovlen = &iov, 1
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	n, err = waitRead(rc, syscall.SYS_RECVMSG, unsafe.Pointer(&msg), syscall.MSG_CMSG_CLOEXEC, 0, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	raceAcquireRead(p[:n])
	raceAcquireRead(oob[:msg.Controllen])
	// Linux echoes the MSG_CMSG_CLOEXEC of the call in the flags.
	return n, int(msg.Controllen), int(msg.Flags) &^ syscall.MSG_CMSG_CLOEXEC, nil
}

// Peek reports how many bytes (0 or 1) wait in the socket descriptor fd
// without reading them and without waiting; the end of the stream is
// 0, nil, and nothing there yet is syscall.EAGAIN. Call it from inside a
// RawConn callback.
func Peek(fd uintptr) (int, error) {
	var b [1]byte
	r, e := retry(syscall.SYS_RECVFROM, fd, unsafe.Pointer(&b[0]), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Yield gives the CPU to any other runnable thread (sched_yield(2)).
func Yield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// SockType returns the type of the socket descriptor fd (SOCK_STREAM …).
func SockType(fd uintptr) (int, error) {
	var typ int32
	size := uint32(unsafe.Sizeof(typ))
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_TYPE,
		uintptr(unsafe.Pointer(&typ)), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return 0, e
	}
	return int(typ), nil
}

// SetNonblock puts the descriptor fd into non-blocking mode.
func SetNonblock(fd uintptr) error {
	fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	if e != 0 {
		return e
	}
	if fl&syscall.O_NONBLOCK != 0 {
		return nil
	}
	if _, _, e = syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, fl|syscall.O_NONBLOCK); e != 0 {
		return e
	}
	return nil
}

// SendNow makes one non-blocking send(2) attempt of b on the socket
// descriptor fd (MSG_DONTWAIT, MSG_NOSIGNAL), whatever the descriptor's
// own mode; a full buffer is syscall.EAGAIN and a descriptor that is no
// socket syscall.ENOTSOCK. Call it from inside a RawConn callback.
func SendNow(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	raceReleaseWrite(b)
	r, e := retry(syscall.SYS_SENDTO, fd, unsafe.Pointer(&b[0]), uintptr(len(b)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Readable reports, without waiting, whether the descriptor fd has input,
// an end of stream or an error to report (poll(2) with no timeout). Call
// it from inside a RawConn callback.
func Readable(fd uintptr) bool {
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: pollIn}
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return true // let the caller's read report it
		}
		return r > 0
	}
}

const pollIn = 0x1 // POLLIN

// Accept takes one connection from the listening socket under rc,
// waiting in Go's poller while none is queued, and returns it as a
// non-blocking, close-on-exec *os.File served by Go's poller. A
// connection that was aborted before it could be taken is skipped, as
// Go's net package does.
func Accept(rc syscall.RawConn) (*os.File, error) {
	fd, err := waitRead(rc, syscall.SYS_ACCEPT4, nil, 0, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.ECONNABORTED)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "accepted"), nil
}

// retry makes the raw system call trap(fd, p, a3, a4), again while it is
// interrupted (EINTR) or fails with skip (when not 0). p stays an
// unsafe.Pointer up to the call, so that what it points at is kept alive
// and in place while the kernel uses it.
func retry(trap, fd uintptr, p unsafe.Pointer, a3, a4 uintptr, skip syscall.Errno) (uintptr, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall6(trap, fd, uintptr(p), a3, a4, 0, 0)
		if e == syscall.EINTR || (e != 0 && e == skip) {
			continue
		}
		return r, e
	}
}

// waitRead makes retry(trap, fd, p, a3, a4, skip) on the descriptor fd
// under rc, waiting in Go's poller while the call would block (EAGAIN),
// and returns the call's result or its error.
func waitRead(rc syscall.RawConn, trap uintptr, p unsafe.Pointer, a3, a4 uintptr, skip syscall.Errno) (int, error) {
	var r uintptr
	var errno syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		r, errno = retry(trap, fd, p, a3, a4, skip)
		return errno != syscall.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// OpError words err, returned by one of the calls here, the way Go's net
// package words a failed socket operation: a *net.OpError for op on
// network between local and remote (either may be nil), an errno named
// after the system call call. It unwraps the *net.OpError with which a
// net connection's RawConn reports its own failures (closed, deadline).
func OpError(op, call, network string, local, remote net.Addr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(call, errno)
	}
	return &net.OpError{Op: op, Net: network, Source: local, Addr: remote, Err: err}
}
