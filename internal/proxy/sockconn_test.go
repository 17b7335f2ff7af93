package proxy

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRemoteSocketLeftAlone: the SMTP peer's socket keeps the options the
// Postfix client gave it; Go's net.FileConn would have turned on
// TCP_NODELAY and keepalive.
func TestRemoteSocketLeftAlone(t *testing.T) {
	fx := newFixture(t, nil)
	path := fx.listen(t)
	rc, rf := remoteConn(t)
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
