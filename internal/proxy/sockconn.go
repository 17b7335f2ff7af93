package proxy

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"tlsproxy/internal/fdclose"
	"tlsproxy/internal/sockio"
)

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

// streamConn is one of a session's two sockets as a net.Conn: the
// plaintext socket, or the remote SMTP peer's socket under crypto/tls.
// Reads and writes are raw system calls (internal/sockio), Close is
// internal/fdclose's; deadlines and the RawConn for parking are the
// underlying Conn's. Errors
// are *net.OpError, as crypto/tls and the relay expect of a net.Conn: a
// read timeout is a net.Error with Timeout, which parking relies on.
//
// Parking also relies on crypto/tls keeping a connection usable after
// that timeout: tls.Conn remembers a read error for good, so that every
// later Read fails with it, unless the error itself is a net.Error whose
// Temporary() is true. It checks with a type assertion, not errors.As, so
// the *net.OpError around os.ErrDeadlineExceeded must be what Read
// returns, never wrapped in anything else: a wrapped timeout would end
// the TLS direction at the first park delay
// (TestTLSReadAfterTimeout).
type streamConn struct {
	Conn
	rc            syscall.RawConn
	network       string   // "unix" or "tcp", for errors
	local, remote net.Addr // for errors
}

// newUnixConn wraps the plaintext socket.
func newUnixConn(c Conn) (*streamConn, error) {
	return newStreamConn(c, "unix", nil)
}

// newSockConn takes over f, the remote SMTP peer's socket as the Postfix
// client passed it, which must be a non-blocking (pollable) stream
// socket, as fdpass.Recv returns them. It stays an *os.File:
// net.FileConn would make a TCP connection of it the way Go makes every
// TCP connection, TCP_NODELAY on and TCP keepalive probes after 15 s of
// quiet, on the SMTP client's connection, which Postfix's tlsproxy leaves
// alone; it would also cost a dup(2) and address look-ups per session.
func newSockConn(f *os.File) (*streamConn, error) {
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
	return newStreamConn(f, "tcp", passedSocket{})
}

// newStreamConn wraps c; addr stands for both addresses unless c is a
// net.Conn, which knows its own.
func newStreamConn(c Conn, network string, addr net.Addr) (*streamConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &streamConn{Conn: c, rc: rc, network: network, local: addr, remote: addr}
	if nc, ok := c.(net.Conn); ok {
		s.local, s.remote = nc.LocalAddr(), nc.RemoteAddr()
	}
	return s, nil
}

func (c *streamConn) Read(b []byte) (int, error) {
	n, err := sockio.Read(c.rc, b)
	switch {
	case err != nil:
		return 0, sockio.OpError("read", "read", c.network, c.local, c.remote, err)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *streamConn) Write(b []byte) (int, error) {
	n, err := sockio.Write(c.rc, b)
	if err != nil {
		return n, sockio.OpError("write", "write", c.network, c.local, c.remote, err)
	}
	return n, nil
}

// Close ends the socket at once and leaves the rest of the closing to
// internal/fdclose, which keeps the end of a session from waking the Go
// runtime's monitor thread. Only session.close calls it, once nothing else
// uses the socket.
func (c *streamConn) Close() error { return fdclose.Close(c.Conn) }

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// passedSocket stands for the passed socket's addresses, which nobody
// asks for: the session knows its peer from the request's
// remote_endpoint.
type passedSocket struct{}

func (passedSocket) Network() string { return "tcp" }
func (passedSocket) String() string  { return "passed-socket" }
