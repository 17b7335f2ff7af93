package daemon

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A process that ends (use limit, idle) must not take a client with it.
// Under master(8) the listening socket is shared: a connection the ending
// process has not accepted waits in the queue for the next process, but
// one it accepted and then closed is lost (postscreen logs "error sending
// request to private/tlsproxy service: Broken pipe" and the remote client
// gets no TLS). Here the test keeps its own copy of the listening socket,
// as master does, and serves it with a second daemon after the first one
// ended: every client must get an answer from one of the two.
func TestNoClientLostAtProcessEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsproxy")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	masterCopy, err := ln.File() // master's descriptor: the queue outlives each process
	if err != nil {
		t.Fatal(err)
	}
	defer masterCopy.Close()
	ln.Close()

	lost := 0
	const rounds = 100
	for round := range rounds {
		clients := make([]net.Conn, 3)
		for i := range clients {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			clients[i] = c
		}
		// The first process ends after one session; the next one serves
		// whatever is still queued, until master goes away.
		results := make(chan bool, len(clients))
		for _, c := range clients {
			go func() {
				b := make([]byte, 3)
				_, err := io.ReadFull(c, b)
				results <- err == nil && string(b) == "ok\n"
			}()
		}
		runProcess(t, masterCopy, 1, nil)
		gone := make(chan struct{})
		second := make(chan struct{})
		go func() { defer close(second); runProcess(t, masterCopy, 0, gone) }()
		for range clients {
			select {
			case ok := <-results:
				if !ok {
					lost++
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: a client got no answer and no EOF", round)
			}
		}
		close(gone)
		<-second
	}
	t.Logf("%d rounds, %d clients, %d lost", rounds, 3*rounds, lost)
	if lost > 0 {
		t.Errorf("%d of %d clients lost: accepted by a process that was ending, then closed", lost, 3*rounds)
	}
}

// runProcess serves a copy of the shared listening socket like one
// tlsproxy process under master, with the given max_use, until it ends.
func runProcess(t *testing.T, shared *os.File, maxUse int, masterGone chan struct{}) {
	t.Helper()
	fl, err := net.FileListener(shared)
	if err != nil {
		t.Error(err) // may run in a goroutine of its own
		return
	}
	d := &Daemon{Listener: fl.(*net.UnixListener), MaxUse: maxUse, MasterGone: masterGone, Log: &nopLog{},
		Handle: func(ctx context.Context, c *os.File, done func()) {
			defer done()
			_, _ = c.Write([]byte("ok\n"))
			c.Close()
		}}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = d.Run(context.Background()) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Error("process did not end")
	}
}
