package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/pftest"
)

// TestRemoteSocketLeftAlone: the SMTP peer's socket keeps the options the
// Postfix client gave it; Go's net.FileConn would have turned on
// TCP_NODELAY and keepalive.
func TestRemoteSocketLeftAlone(t *testing.T) {
	fx := newFixture(t, nil)
	path := fx.listen(t)
	rc, rf := pftest.RemotePair(t)
	fd := int(rf.Fd())
	opts := []struct {
		name       string
		level, opt int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, 0); err != nil {
			t.Fatal(err)
		}
	}
	// A second descriptor for the same socket, to look at it afterwards.
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	plain := handOverTo(t, path, "[127.0.0.1]:6101", 30, 30, rf)
	defer plain.Close()
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		v, err := unix.GetsockoptInt(dup, o.level, o.opt)
		if err != nil {
			t.Fatal(err)
		}
		if v != 0 {
			t.Errorf("%s = %d after the hand-over, want 0 as the client left it", o.name, v)
		}
	}
}

// TestPassedNonSocket: a descriptor that is no stream socket ends the
// session with Postfix's warning.
func TestPassedNonSocket(t *testing.T) {
	fx := newFixture(t, nil)
	path := fx.listen(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ep := "[127.0.0.1]:6102"
	plain := handOverTo(t, path, ep, 30, 30, r)
	defer plain.Close()
	waitLine(t, fx, "DISCONNECT "+ep)
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "warning: tlsp_get_fd_event: receive remote SMTP peer file descriptor: passed descriptor is not a usable socket", "DISCONNECT " + ep}, nil)
}

// TestTLSReadAfterTimeout: a TLS read that times out on the remote socket
// (the park delay) leaves the connection usable, which holds only while
// streamConn returns its timeout as a bare net.Error whose Temporary() is
// true (see streamConn).
func TestTLSReadAfterTimeout(t *testing.T) {
	fx := newFixture(t, nil)
	rc, rf := pftest.RemotePair(t)
	sc, err := newSockConn(rf)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := fx.srv.TLS.SessionConfig()
	server := tls.Server(sc, cfg)
	client := fx.tlsClient(rc)
	hs := make(chan error, 1)
	go func() { hs <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}

	// What crypto/tls looks at: the error as returned, no unwrapping.
	if err := sc.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, rerr := sc.Read(make([]byte, 1))
	ne, ok := rerr.(net.Error)
	if !ok || !ne.Timeout() || !ne.Temporary() { //nolint:staticcheck // Temporary is what crypto/tls checks
		t.Fatalf("streamConn read timeout = %#v, want a net.Error, Timeout and Temporary", rerr)
	}

	// Through crypto/tls: the timeout, then data on the same connection.
	buf := make([]byte, 16)
	if _, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a past deadline: %v, want a timeout", err)
	}
	if err := sc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read after the timeout: %q, %v; want \"hello\"", buf[:n], err)
	}
}
