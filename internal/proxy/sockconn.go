package proxy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"tlsproxy/internal/sockio"
)

// sockConn is the remote SMTP peer's socket, as the Postfix client passed
// it. net.FileConn would make a TCP connection of it the way Go makes
// every TCP connection: TCP_NODELAY on, and TCP keepalive probes after 15 s
// of quiet, on the SMTP client's connection, which Postfix's tlsproxy
// leaves alone; it would also cost a dup(2) and address look-ups per
// session. A pollable *os.File (the descriptor is non-blocking) has
// deadlines and Go's poller without any of that.
type sockConn struct {
	f  *os.File
	rc syscall.RawConn
}

// newSockConn takes over f, which must be a non-blocking (pollable) stream
// socket, as fdpass.Recv returns them.
func newSockConn(f *os.File) (*sockConn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var typ int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = sockio.SockType(fd)
	}); err != nil {
		return nil, err
	}
	switch {
	case serr != nil:
		return nil, serr
	case typ != syscall.SOCK_STREAM:
		return nil, fmt.Errorf("socket type %d, not a stream", typ)
	}
	return &sockConn{f: f, rc: rc}, nil
}

func (c *sockConn) Read(b []byte) (int, error) {
	n, err := sockio.Read(c.rc, b)
	if err == nil && n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, netError("read", err)
}

func (c *sockConn) Write(b []byte) (int, error) {
	n, err := sockio.Write(c.rc, b)
	return n, netError("write", err)
}

func (c *sockConn) Close() error                       { return c.f.Close() }
func (c *sockConn) LocalAddr() net.Addr                { return sockAddr{} }
func (c *sockConn) RemoteAddr() net.Addr               { return sockAddr{} }
func (c *sockConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *sockConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *sockConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SyscallConn lets the relay park the socket (internal/park).
func (c *sockConn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }

// netError gives crypto/tls the errors it expects from a net.Conn: a
// net.Error whose Temporary method tells a timeout (the read may be tried
// again, which parking relies on) from a broken connection. An *os.File
// returns *fs.PathError, which is no net.Error: crypto/tls would take a
// read timeout for the end of the connection.
func netError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Err: err}
}

// sockAddr stands for the addresses nobody asks for: the session knows its
// peer from the request's remote_endpoint.
type sockAddr struct{}

func (sockAddr) Network() string { return "tcp" }
func (sockAddr) String() string  { return "passed-socket" }

// Conn is the plaintext socket from the Postfix client as the daemon
// accepts it (a non-blocking *os.File) or as tests make it (a
// *net.UnixConn).
type Conn interface {
	syscall.Conn
	io.Closer
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// unixConn is the plaintext socket as a net.Conn. Reads and writes are
// raw system calls (internal/sockio), worded on error the way
// net.UnixConn words them.
type unixConn struct {
	Conn
	rc syscall.RawConn
}

func newUnixConn(c Conn) (*unixConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &unixConn{Conn: c, rc: rc}, nil
}

func (c *unixConn) Read(b []byte) (int, error) {
	n, err := sockio.Read(c.rc, b)
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *unixConn) Write(b []byte) (int, error) {
	n, err := sockio.Write(c.rc, b)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// LocalAddr and RemoteAddr are only for error messages.
func (c *unixConn) LocalAddr() net.Addr {
	if nc, ok := c.Conn.(net.Conn); ok {
		return nc.LocalAddr()
	}
	return nil
}

func (c *unixConn) RemoteAddr() net.Addr {
	if nc, ok := c.Conn.(net.Conn); ok {
		return nc.RemoteAddr()
	}
	return nil
}

func (c *unixConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err // the raw call's own wrapping
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "unix", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
