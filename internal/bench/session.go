package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Session is one proxied SMTP-over-TLS session: Plain is postscreen's end
// (plaintext, on the tlsproxy socket), Conn the remote client's end (TLS
// over loopback TCP).
type Session struct {
	Plain *net.UnixConn
	Conn  *tls.Conn
}

// Dialer opens sessions through one tlsproxy.
type Dialer struct {
	Opener  Opener
	TLS     *tls.Config // the remote client's configuration
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

// Listen opens the loopback listener a goroutine uses for remotePair.
func Listen() (*net.TCPListener, error) {
	return net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
}

// Open runs one session up to the end of the TLS handshake: remote pair,
// postscreen request and descriptor hand-over, then the client handshake.
func (d *Dialer) Open(ln *net.TCPListener, cfg *tls.Config) (*Session, error) {
	client, server, err := remotePair(ln)
	if err != nil {
		return nil, err
	}
	f, err := server.File()
	server.Close()
	if err != nil {
		client.Close()
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
	if err := tc.Handshake(); err != nil {
		s.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ping sends msg from the remote client to postscreen's end and reply
// back, the way one SMTP command and its response cross the proxy. buf
// must hold the longer of the two.
func (s *Session) Ping(msg, reply, buf []byte, timeout time.Duration) error {
	dl := time.Now().Add(timeout)
	if err := s.Conn.SetDeadline(dl); err != nil {
		return err
	}
	if err := s.Plain.SetDeadline(dl); err != nil {
		return err
	}
	if _, err := s.Conn.Write(msg); err != nil {
		return fmt.Errorf("client write: %w", err)
	}
	if _, err := io.ReadFull(s.Plain, buf[:len(msg)]); err != nil {
		return fmt.Errorf("plaintext read: %w", err)
	}
	if _, err := s.Plain.Write(reply); err != nil {
		return fmt.Errorf("plaintext write: %w", err)
	}
	if _, err := io.ReadFull(s.Conn, buf[:len(reply)]); err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	return nil
}

// Close ends the session as postscreen does: the plaintext side closes
// first, then the remote client goes away without a close_notify.
func (s *Session) Close() {
	s.Plain.Close()
	s.Conn.NetConn().Close()
}

// SMTP-sized messages for Ping.
var (
	pingMsg   = []byte("EHLO client.bench.test\r\n")
	pingReply = []byte("250-mx.bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
)
