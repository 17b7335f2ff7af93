package pftest

// Small helpers shared by many packages' tests: a connected AF_UNIX
// socket pair, a loopback TCP pair for the remote side, golden-file
// comparison and the check of an expected error.

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// UnixPair returns both ends of a fresh AF_UNIX stream socketpair; both
// are closed when the test ends.
func UnixPair(t testing.TB) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("pftest: socketpair: %v", err)
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatalf("pftest: socketpair: %v", err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// Update is the -update flag of every test binary that imports pftest:
// rewrite the golden files under testdata/ instead of comparing them.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/ instead of comparing")

// Golden compares got with the file testdata/name of the calling test's
// package. With update set it writes got there instead (creating
// testdata/) and compares nothing. A difference fails the test and names
// the first line that differs.
func Golden(t testing.TB, name, got string, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatalf("pftest: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("pftest: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got == string(want) {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			t.Errorf("%s differs at line %d (run with -update to accept):\n got %q\nwant %q", path, i+1, gl[i], wl[i])
			return
		}
	}
	t.Errorf("%s differs in length (run with -update to accept): got %d lines, want %d", path, len(gl), len(wl))
}

// RemotePair returns a connected loopback TCP pair standing for the
// remote SMTP connection (NewRemotePair): client, the far end that
// talks TLS, with a 30 s deadline so that a stuck test fails instead of
// hanging, and server, this side's socket as an *os.File to pass to
// tlsproxy. Both are closed when the test ends.
func RemotePair(t testing.TB) (client net.Conn, server *os.File) {
	t.Helper()
	client, server, err := NewRemotePair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	_ = client.SetDeadline(time.Now().Add(30 * time.Second))
	return client, server
}

// NewRemotePair makes a connected loopback TCP pair standing for the remote
// SMTP connection: client is the far end (the remote SMTP client or
// server, which talks TLS), server is this side's socket as an *os.File,
// ready to be passed to tlsproxy (close it after passing). The caller
// closes both. It may be called from any goroutine.
func NewRemotePair() (client net.Conn, server *os.File, err error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, fmt.Errorf("pftest: remote pair: %w", err)
	}
	defer ln.Close()
	type accepted struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.AcceptTCP()
		ch <- accepted{c, err}
	}()
	client, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		ln.Close() // unblocks the Accept
		<-ch
		return nil, nil, fmt.Errorf("pftest: remote pair: %w", err)
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("pftest: remote pair: %w", a.err)
	}
	defer a.c.Close()
	if server, err = a.c.File(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("pftest: remote pair: %w", err)
	}
	return client, server, nil
}

// WantErr checks err against want, a part of the error text a case
// expects ("" = none), and stops the test when they disagree. It reports
// whether the case goes on: true when no error was wanted nor had.
func WantErr(t testing.TB, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return want == ""
}
