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

// Open implements Opener. A full listen queue makes the non-blocking
// connect fail with EAGAIN (master's queue for the socket holds 100); that
// is retried, with a short pause, until Timeout.
func (p Postscreen) Open(endpoint string, remote *os.File) (*net.UnixConn, error) {
	req := pfclient.ServerRole(p.Version, endpoint)
	deadline := time.Now().Add(p.Timeout)
	pause := time.Millisecond
	for {
		c, status, err := pfclient.Open(p.Socket, req, remote)
		switch {
		case err == nil && status == 1:
			return c.UnixConn, nil
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
