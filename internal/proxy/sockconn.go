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

	"golang.org/x/sys/unix"
)

// sockConn is the remote SMTP peer's socket, as the Postfix client passed
// it. net.FileConn would make a TCP connection of it the way Go makes
// every TCP connection: TCP_NODELAY on, and TCP keepalive probes after 15 s
// of quiet, on the SMTP client's connection, which Postfix's tlsproxy
// leaves alone; it would also cost a dup(2) and address look-ups per
// session. A pollable *os.File (the descriptor is non-blocking) has
// deadlines and Go's poller without any of that.
type sockConn struct{ f *os.File }

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
		typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	}); err != nil {
		return nil, err
	}
	switch {
	case serr != nil:
		return nil, serr
	case typ != unix.SOCK_STREAM:
		return nil, fmt.Errorf("socket type %d, not a stream", typ)
	}
	return &sockConn{f: f}, nil
}

func (c *sockConn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	return n, netError("read", err)
}

func (c *sockConn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
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
