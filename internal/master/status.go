package master

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
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

// WatchMaster reads f (the status socket) in a goroutine and closes the
// returned channel as soon as the read returns. master never writes to
// the socket, so whatever ends the read (EOF after "postfix reload" or
// master death, an error, or even unexpected data) means the channel to
// master is gone, as in Postfix where any read event on fd 5 aborts.
func WatchMaster(f *os.File) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		var b [1]byte
		f.Read(b[:]) // any outcome counts, see above
	}()
	return gone
}
