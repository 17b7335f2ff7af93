package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// Session is one proxied SMTP-over-TLS session: Plain is the Postfix
// program's end (plaintext, on the tlsproxy socket), Conn the remote
// peer's end (TLS over loopback TCP). In the server role the remote peer is
// an SMTP client and Postfix is postscreen; in the client role (Client
// true) the remote peer is an SMTP server and Postfix is smtp(8).
type Session struct {
	Plain  *net.UnixConn
	Conn   *tls.Conn
	Client bool
}

// Dialer opens sessions through one tlsproxy.
type Dialer struct {
	Opener Opener
	TLS    *tls.Config // server role: the remote client's configuration
	// Server, when set, makes the sessions client-role ones: the remote
	// peer is a TLS server with this configuration, and Opener plays
	// smtp(8).
	Server  *tls.Config
	Timeout time.Duration
}

// remotePair returns both ends of a fresh loopback TCP connection made to
// ln: client is the remote SMTP client's end, server the one postscreen
// accepted. One listener per goroutine keeps accept and dial paired.
func remotePair(ln *net.TCPListener) (client, server *net.TCPConn, err error) {
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, nil, fmt.Errorf("dial remote pair: %w", err)
	}
	if err := ln.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		client.Close()
		return nil, nil, err
	}
	server, err = ln.AcceptTCP()
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("accept remote pair: %w", err)
	}
	return client, server, nil
}

// remoteFile is remotePair with the server end as an *os.File, the
// descriptor to hand to tlsproxy.
func remoteFile(ln *net.TCPListener) (*net.TCPConn, *os.File, error) {
	client, server, err := remotePair(ln)
	if err != nil {
		return nil, nil, err
	}
	f, err := server.File()
	server.Close()
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, f, nil
}

// Listen opens the loopback listener a goroutine uses for remotePair.
func Listen() (*net.TCPListener, error) {
	return net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
}

// Open runs one session up to the end of the TLS handshake: remote pair,
// request and descriptor hand-over, then the remote peer's handshake. cfg
// is the remote peer's configuration (nil: d.TLS, or d.Server in the
// client role).
func (d *Dialer) Open(ln *net.TCPListener, cfg *tls.Config) (*Session, error) {
	if d.Server != nil {
		return d.openClientRole(ln, cfg)
	}
	client, f, err := remoteFile(ln)
	if err != nil {
		return nil, err
	}
	port := client.LocalAddr().(*net.TCPAddr).Port
	plain, err := d.Opener.Open("[127.0.0.1]:"+strconv.Itoa(port), f)
	f.Close() // like postscreen: tlsproxy now holds the only copy
	if err != nil {
		client.Close()
		return nil, err
	}
	if cfg == nil {
		cfg = d.TLS
	}
	tc := tls.Client(client, cfg)
	s := &Session{Plain: plain, Conn: tc}
	if err := tc.SetDeadline(time.Now().Add(d.Timeout)); err != nil {
		s.Close()
		return nil, err
	}
	return s.established(tc.Handshake(), "TLS handshake")
}

// established ends Open with the outcome hsErr of the remote peer's
// handshake (what names it in an error): the deadline cleared, or s
// closed.
func (s *Session) established(hsErr error, what string) (*Session, error) {
	if hsErr != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", what, hsErr)
	}
	if err := s.Conn.SetDeadline(time.Time{}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openClientRole is Open for the client role. The remote server's
// handshake must run while the Opener waits for the TLS context, which
// tlsproxy sends only once its own handshake is done.
func (d *Dialer) openClientRole(ln *net.TCPListener, cfg *tls.Config) (*Session, error) {
	remote, f, err := remoteFile(ln)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = d.Server
	}
	tc := tls.Server(remote, cfg)
	if err := tc.SetDeadline(time.Now().Add(d.Timeout)); err != nil {
		f.Close()
		remote.Close()
		return nil, err
	}
	hs := make(chan error, 1)
	go func() { hs <- tc.Handshake() }()
	port := ln.Addr().(*net.TCPAddr).Port // the port smtp(8) would have connected to
	plain, err := d.Opener.Open("[127.0.0.1]:"+strconv.Itoa(port), f)
	f.Close() // like smtp(8): tlsproxy now holds the only copy
	if err != nil {
		remote.Close() // ends the handshake goroutine
		<-hs
		return nil, err
	}
	s := &Session{Plain: plain, Conn: tc, Client: true}
	return s.established(<-hs, "TLS handshake (remote server)")
}

// Ping sends msg from the SMTP client's end to the server's end and reply
// back, the way one SMTP command and its response cross the proxy: in the
// server role from the remote client to postscreen's end, in the client
// role from smtp(8)'s end to the remote server. buf must hold the longer
// of the two.
func (s *Session) Ping(msg, reply, buf []byte, timeout time.Duration) error {
	dl := time.Now().Add(timeout)
	if err := s.Conn.SetDeadline(dl); err != nil {
		return err
	}
	if err := s.Plain.SetDeadline(dl); err != nil {
		return err
	}
	var cli, srv io.ReadWriter = s.Conn, s.Plain
	if s.Client {
		cli, srv = s.Plain, s.Conn
	}
	if _, err := cli.Write(msg); err != nil {
		return fmt.Errorf("client write: %w", err)
	}
	if _, err := io.ReadFull(srv, buf[:len(msg)]); err != nil {
		return fmt.Errorf("server read: %w", err)
	}
	if _, err := srv.Write(reply); err != nil {
		return fmt.Errorf("server write: %w", err)
	}
	if _, err := io.ReadFull(cli, buf[:len(reply)]); err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	return nil
}

// Close ends the session as postscreen does: the plaintext side closes
// first, then the remote peer goes away without a close_notify.
func (s *Session) Close() {
	s.Plain.Close()
	s.Conn.NetConn().Close()
}

// SMTP-sized messages for Ping.
var (
	pingMsg   = []byte("EHLO client.bench.test\r\n")
	pingReply = []byte("250-mx.bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
)
