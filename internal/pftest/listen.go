package pftest

// Loopback listeners closed for the test, and servers that accept on
// them.

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// ListenUnix listens on an AF_UNIX stream socket at path (in a fresh
// temporary directory when path is ""); the listener is closed when the
// test ends.
func ListenUnix(t testing.TB, path string) *net.UnixListener {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "tlsproxy")
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("pftest: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ListenTCP listens on a free loopback TCP port, failing t when it
// cannot. The caller closes the listener (helpers that run once per
// benchmark iteration must not pile up cleanups).
func ListenTCP(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("pftest: %v", err)
	}
	return ln
}

// AcceptOne accepts one connection on ln in a goroutine and delivers on
// the channel what serve returns for it (the connection is closed after
// that), or what fail returns for the error when Accept fails.
func AcceptOne[R any](ln net.Listener, serve func(net.Conn) R, fail func(error) R) <-chan R {
	ch := make(chan R, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- fail(err)
			return
		}
		defer c.Close()
		ch <- serve(c)
	}()
	return ch
}

// ServeEach accepts connections on ln until it is closed and runs serve
// on each in a goroutine of its own, closing the connection afterwards.
// The stop it returns closes ln and waits for every goroutine; it runs
// when the test ends too.
func ServeEach(t testing.TB, ln net.Listener, serve func(net.Conn)) (stop func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { ln.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
