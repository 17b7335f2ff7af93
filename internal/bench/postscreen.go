package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pfversion"
)

// Opener starts the plaintext half of a tlsproxy session the way a Postfix
// client does and hands over remote, the remote peer's socket. It returns
// the plaintext connection, ready for the relay, or an error; on error
// nothing stays open.
type Opener interface {
	Open(endpoint string, remote *os.File) (*net.UnixConn, error)
}

// Postscreen is postscreen(8) of a given Postfix release in the server
// role, as internal/pfclient plays it: for 3.6 and later, wait for the
// announcement, send the request (flags 1, both timeouts 300, serverid
// smtpd), read the status and pass the descriptor.
type Postscreen struct {
	Socket  string // DIR/spool/private/tlsproxy
	Version pfversion.Version
	Timeout time.Duration // give up connecting after this long
}

// Debian 12's Postfix.
var DefaultVersion = pfversion.MustParse("3.7.11")

// Open implements Opener.
func (p Postscreen) Open(endpoint string, remote *os.File) (*net.UnixConn, error) {
	c, err := openRetry(p.Socket, pfclient.ServerRole(p.Version, endpoint), remote, p.Timeout)
	if err != nil {
		return nil, err
	}
	return c.UnixConn, nil
}

// SMTP is smtp(8) of a given Postfix release with connection reuse, i.e.
// tlsproxy in the client role, as internal/pfclient plays it: the request
// with flags 6 (client role, context wanted) and its TLS_CLIENT_PARAMS,
// INIT_PROPS and START_PROPS at postconf -d values and security level
// may, the status, the descriptor, then the TLS context in the shape that
// release reads (22 attributes for 3.7).
//
// The init props must serialise exactly as tlsproxy's own
// tlsproxy_client_* settings do, or Postfix's tlsproxy builds a second
// client context and, if they name files, warns about "unexpected
// settings": the bench's main.cf leaves every smtp_tls_* file empty, as
// ClientRole does, and LogLevel is smtp_tls_loglevel.
type SMTP struct {
	Socket   string
	Version  pfversion.Version
	LogLevel string // init props log_level: main.cf's smtp_tls_loglevel
	Timeout  time.Duration
}

// Open implements Opener; it returns once the TLS context has arrived, so
// the remote server's handshake must already be under way.
func (p SMTP) Open(endpoint string, remote *os.File) (*net.UnixConn, error) {
	req := pfclient.ClientRole(p.Version, endpoint, "")
	if p.LogLevel != "" {
		req.Props = map[string]string{"init.log_level": p.LogLevel}
	}
	c, err := openRetry(p.Socket, req, remote, p.Timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Context(pfclient.ContextLen(req)); err != nil {
		c.Close()
		return nil, err
	}
	return c.UnixConn, nil
}

// openRetry performs the hand-over of req and returns the connection once
// tlsproxy answered status 1 and has the descriptor. A full listen queue
// makes the non-blocking connect fail with EAGAIN (master's queue for the
// socket holds 100); that is retried, with a short pause, until timeout.
func openRetry(socket string, req pfclient.Request, remote *os.File, timeout time.Duration) (*pfclient.Conn, error) {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		c, status, err := pfclient.Open(socket, req, remote)
		switch {
		case err == nil && status == 1:
			return c, nil
		case err == nil:
			c.Close()
			return nil, fmt.Errorf("tlsproxy status %d: TLS not available", status)
		case !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline):
			return nil, err
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
