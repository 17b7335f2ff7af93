package master

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/sockio"
)

// Values of the avail field of a status record.
const (
	statTaken = 0 // a connection was accepted, the process is busy
	statAvail = 1 // the process can accept another connection
)

// statusSize is the size of a status record: {int pid; unsigned gen; int avail}.
const statusSize = 12

// Status writes status records to master(8) over the status socket.
// Taken and Available may be called from any goroutine, also while
// WatchMaster reads the same *os.File.
type Status struct {
	f   *os.File
	pid int32
	gen uint32
}

// NewStatus returns a Status that reports pid and gen on f (normally
// os.NewFile(StatusFD, ...)).
func NewStatus(f *os.File, pid int32, gen uint32) *Status {
	return &Status{f: f, pid: pid, gen: gen}
}

// Taken tells master that this process has just accepted a connection.
func (s *Status) Taken() error { return s.write(statTaken) }

// Available tells master that this process can accept connections again.
// An error means master is gone (reload or death), as for Postfix.
func (s *Status) Available() error { return s.write(statAvail) }

// write sends one record in native byte order with a single write(2)
// call; a short write is an error, as master drops partial records.
func (s *Status) write(avail int32) error {
	var rec [statusSize]byte
	binary.NativeEndian.PutUint32(rec[0:], uint32(s.pid))
	binary.NativeEndian.PutUint32(rec[4:], s.gen)
	binary.NativeEndian.PutUint32(rec[8:], uint32(avail))
	rc, err := s.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("write status to master: %w", err)
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		// The status socket is in blocking mode (master's choice, and
		// shared by every process of the service): try a non-blocking
		// send first, as a raw system call (internal/sockio), and fall
		// back to a plain write(2) if the buffer is full or fd is no
		// socket.
		if n, werr = sockio.SendNow(fd, rec[:]); werr != unix.EAGAIN && werr != unix.ENOTSOCK {
			return true
		}
		for {
			n, werr = unix.Write(int(fd), rec[:])
			if werr != unix.EINTR {
				return werr != unix.EAGAIN // EAGAIN: wait until writable (pollable fds only)
			}
		}
	})
	switch {
	case err != nil:
		return fmt.Errorf("write status to master: %w", err)
	case werr != nil:
		return fmt.Errorf("write status to master: %w", werr)
	case n != statusSize:
		return fmt.Errorf("write status to master: short write (%d of %d bytes)", n, statusSize)
	}
	return nil
}

// WatchMaster waits in a goroutine until f (the status socket) has
// something to read, and then closes the returned channel. master never
// writes to the socket, so whatever makes it readable (EOF after "postfix
// reload" or master death, an error, or even unexpected data) means the
// channel to master is gone, as in Postfix where any read event on fd 5
// aborts. It waits with poll(2) for input only, not in read(2): a thread
// blocked in read on a UNIX socket is woken each time master drains our
// status records (two per connection), a poll for input is not.
func WatchMaster(f *os.File) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		rc, err := f.SyscallConn()
		if err != nil {
			return
		}
		// A non-blocking f waits in Go's poller; the blocking socket
		// that master passes cannot, and is polled by this goroutine's
		// thread.
		if rc.Read(sockio.Readable) == nil {
			return
		}
		_ = rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					return
				}
			}
		})
	}()
	return gone
}
