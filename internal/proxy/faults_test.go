package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/maillog"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
)

// Faults: the remote or the plaintext side misbehaves
// at each step of a session. Each case runs against its own server; after
// it, goroutines and descriptors must be back where they were and the
// server must still serve a good session.

// faultCase is one injected fault; run makes it happen against the
// server listening at path and checks how the session ended.
type faultCase struct {
	name  string
	setup func(*Server)
	run   func(t *testing.T, fx *fixture, path string)
}

func TestFaults(t *testing.T) {
	cases := []faultCase{
		{"remote reset mid-handshake", nil, faultResetMidHandshake},
		{"remote reset mid-relay", nil, faultResetMidRelay},
		{"plaintext vanishes mid-relay", nil, faultPlainVanishesMidRelay},
		{"plaintext vanishes before the fd", nil, faultPlainVanishesBeforeFD},
		{"plaintext vanishes before the request", nil, faultPlainVanishesBeforeRequest},
		{"silent remote: handshake timeout", nil, faultSilentRemote},
		{"slow remote: the handshake limit is total", nil, faultSlowRemote},
		{"remote stops reading: idle limit", func(s *Server) { s.SessionSlack = time.Nanosecond }, faultRemoteStopsReading},
		{"silent client: no request", func(s *Server) { s.InitTimeout = 300 * time.Millisecond }, faultNoRequest},
		{"silent client: no descriptor", func(s *Server) { s.InitTimeout = 300 * time.Millisecond }, faultNoDescriptor},
		faultPanicBeforeRelay(),
		faultPanicInRelay(),
	}
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			if fc.setup != nil {
				fc.setup(fx.srv)
			}
			before := takeBaseline(t)
			path, stop := serveUnix(t, fx.srv)
			// The fault's own sockets close when its subtest ends.
			t.Run("fault", func(t *testing.T) { fc.run(t, fx, path) })
			if err := fx.runSession(path, pfclient.ServerRole(pfversion.MustParse("3.7.11"), "[127.0.0.1]:2999"), 4096, 9); err != nil {
				t.Fatalf("good session after the fault: %v", err)
			}
			stop()
			before.Check(t, "after the fault")
		})
	}
}

// handOverTo connects to path as a 3.7 postscreen and hands over remote
// with the given timeouts; it fails the test unless the status is 1.
func handOverTo(t testing.TB, path, ep string, hs, idle int, remote *os.File) *net.UnixConn {
	t.Helper()
	c := pftest.Connect(t, path)
	t.Cleanup(func() { c.Close() })
	if st, err := pftest.RequestStatus(c, ep, FlagRoleServer, hs, idle, "smtpd"); err != nil || st != 1 {
		t.Fatalf("status %d, %v", st, err)
	}
	if remote != nil {
		if err := pftest.PassFD(c, remote); err != nil {
			t.Fatal(err)
		}
		remote.Close()
	}
	return c
}

// waitLine waits up to 10 s for a log record containing substr.
func waitLine(t *testing.T, fx *fixture, substr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fx.rec.Wait(ctx, substr); err != nil {
		t.Fatal(err)
	}
}

// atMostWarnings fails the test when more than n warning records were
// logged, or any internal error.
func atMostWarnings(t *testing.T, fx *fixture, n int) {
	t.Helper()
	var warns []string
	for _, l := range fx.rec.Lines() {
		if strings.HasPrefix(l, "warning:") {
			warns = append(warns, l)
		}
		if strings.Contains(l, "internal error") {
			t.Errorf("unexpected log line %q", l)
		}
	}
	if len(warns) > n {
		t.Errorf("%d warnings, want at most %d:\n%s", len(warns), n, strings.Join(warns, "\n"))
	}
}

// reset ends a TCP connection with a RST instead of a FIN.
func reset(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func faultResetMidHandshake(t *testing.T, fx *fixture, path string) {
	rc, rf := pftest.RemotePair(t)
	ep := "[127.0.0.1]:6001"
	handOverTo(t, path, ep, 30, 30, rf)
	ch := pftest.ClientHello(t)
	if _, err := rc.Write(ch[:len(ch)/2]); err != nil {
		t.Fatal(err)
	}
	reset(t, rc)
	waitLine(t, fx, "DISCONNECT "+ep)
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "TLS handshake failed for service=smtpd peer=" + ep, "DISCONNECT " + ep}, nil)
	atMostWarnings(t, fx, 1)
}

// established runs the hand-over and the TLS handshake.
func established(t testing.TB, fx *fixture, path, ep string, hs, idle int) (*net.UnixConn, *tls.Conn, net.Conn) {
	t.Helper()
	rc, rf := pftest.RemotePair(t)
	plain := handOverTo(t, path, ep, hs, idle, rf)
	_ = plain.SetDeadline(time.Now().Add(30 * time.Second))
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return plain, tc, rc
}

func faultResetMidRelay(t *testing.T, fx *fixture, path string) {
	ep := "[127.0.0.1]:6002"
	plain, tc, rc := established(t, fx, path, ep, 30, 30)
	sent := make([]byte, 256<<10)
	rand.Read(sent)
	if _, err := tc.Write(sent[:100<<10]); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(plain, head); err != nil {
		t.Fatal(err)
	}
	reset(t, rc)
	rest, _ := io.ReadAll(plain) // EOF or a reset, once the proxy closed
	got := append(head, rest...)
	if !bytes.Equal(got, sent[:len(got)]) {
		t.Fatalf("plaintext side got %d bytes that are not what the remote sent", len(got))
	}
	waitLine(t, fx, "DISCONNECT "+ep)
	atMostWarnings(t, fx, 1)
}

func faultPlainVanishesMidRelay(t *testing.T, fx *fixture, path string) {
	ep := "[127.0.0.1]:6003"
	plain, tc, _ := established(t, fx, path, ep, 30, 30)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the remote keeps sending until the session is gone
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for range 64 {
			if _, err := tc.Write(buf); err != nil {
				return
			}
		}
	}()
	if _, err := io.ReadFull(plain, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	// The remote sees the end: close_notify, a reset or EOF.
	_, _ = io.Copy(io.Discard, tc)
	wg.Wait()
	waitLine(t, fx, "DISCONNECT "+ep)
	atMostWarnings(t, fx, 1)
}

func faultPlainVanishesBeforeFD(t *testing.T, fx *fixture, path string) {
	ep := "[127.0.0.1]:6004"
	plain := handOverTo(t, path, ep, 30, 30, nil)
	plain.Close()
	waitLine(t, fx, "DISCONNECT "+ep)
	wantLines(t, fx.rec, []string{
		"warning: tlsp_get_fd_event: receive remote SMTP peer file descriptor: ",
		"TLS handshake failed for service=smtpd peer=" + ep,
		"DISCONNECT " + ep}, nil)
	atMostWarnings(t, fx, 1)
}

func faultPlainVanishesBeforeRequest(t *testing.T, fx *fixture, path string) {
	pftest.Connect(t, path).Close()
	waitLine(t, fx, "tlsp_get_request_event: receive request attributes: unexpected end-of-input")
	atMostWarnings(t, fx, 1)
}

// sessionTime measures how long the session of ep takes to end from now.
func sessionTime(t *testing.T, fx *fixture, ep string) time.Duration {
	t.Helper()
	start := time.Now()
	waitLine(t, fx, "DISCONNECT "+ep)
	return time.Since(start)
}

func faultSilentRemote(t *testing.T, fx *fixture, path string) {
	_, rf := pftest.RemotePair(t)
	ep := "[127.0.0.1]:6005"
	handOverTo(t, path, ep, 1, 30, rf)
	if el := sessionTime(t, fx, ep); el < 900*time.Millisecond {
		t.Errorf("session ended after %v, before its 1 s handshake limit", el)
	}
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "TLS handshake failed for service=smtpd peer=" + ep, "DISCONNECT " + ep}, nil)
	atMostWarnings(t, fx, 1)
}

func faultSlowRemote(t *testing.T, fx *fixture, path string) {
	rc, rf := pftest.RemotePair(t)
	ep := "[127.0.0.1]:6006"
	handOverTo(t, path, ep, 1, 30, rf)
	ch := pftest.ClientHello(t) // a few hundred bytes: many seconds at this pace
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond) // pacing the slow peer, not synchronisation
	defer tick.Stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, b := range ch {
			<-tick.C
			if _, err := rc.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	waitLine(t, fx, "DISCONNECT "+ep)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("a peer sending one byte per 20 ms kept the handshake going for %v (limit 1 s)", el)
	}
	rc.Close()
	wg.Wait()
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "TLS handshake failed for service=smtpd peer=" + ep, "DISCONNECT " + ep}, nil)
	atMostWarnings(t, fx, 1)
}

func faultRemoteStopsReading(t *testing.T, fx *fixture, path string) {
	ep := "[127.0.0.1]:6007"
	plain, _, _ := established(t, fx, path, ep, 5, 1) // idle limit 1 s + 1 ns
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // fills every buffer on the way to a remote that never reads
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for range 1024 {
			if _, err := plain.Write(buf); err != nil {
				return
			}
		}
	}()
	el := sessionTime(t, fx, ep)
	plain.Close()
	wg.Wait()
	if el > 10*time.Second {
		t.Errorf("stalled session lasted %v (idle limit 1 s)", el)
	}
	// Either the inactivity timer or the write deadline ends it: one line.
	lines := strings.Join(fx.rec.Lines(), "\n")
	if !strings.Contains(lines, "timeout for "+ep) && !strings.Contains(lines, "error for "+ep+": ") {
		t.Errorf("no timeout logged:\n%s", lines)
	}
	atMostWarnings(t, fx, 1)
}

func faultNoRequest(t *testing.T, fx *fixture, path string) {
	c := pftest.Connect(t, path)
	defer c.Close()
	waitLine(t, fx, "warning: tlsp_get_request_event: receive request attributes: timeout")
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("after the timeout: read %d bytes, %v; want EOF", n, err)
	}
	atMostWarnings(t, fx, 1)
}

func faultNoDescriptor(t *testing.T, fx *fixture, path string) {
	ep := "[127.0.0.1]:6008"
	handOverTo(t, path, ep, 30, 30, nil)
	waitLine(t, fx, "DISCONNECT "+ep)
	wantLines(t, fx.rec, []string{"warning: tlsp_get_fd_event: receive remote SMTP peer file descriptor: timeout"}, nil)
	atMostWarnings(t, fx, 1)
}

// panicLog panics when a record containing trigger is logged.
type panicLog struct {
	logs.Logger
	trigger string
}

func (p panicLog) Infof(format string, a ...any) {
	if strings.Contains(fmt.Sprintf(format, a...), p.trigger) {
		panic("injected fault")
	}
	p.Logger.Infof(format, a...)
}

func faultPanicBeforeRelay() faultCase {
	ep := "[127.0.0.1]:6009"
	setup := func(s *Server) { s.Log = panicLog{Logger: s.Log, trigger: "CONNECT from " + ep} }
	run := func(t *testing.T, fx *fixture, path string) {
		c := pftest.Connect(t, path)
		defer c.Close()
		if err := pftest.SendRequest(c, ep, FlagRoleServer, 30, 30, "smtpd"); err != nil {
			t.Fatal(err)
		}
		if _, err := pftest.ReadStatus(c); err == nil {
			t.Error("got a status from a session that panicked before it")
		}
		waitLine(t, fx, "session for "+ep+" ended by internal error: injected fault")
	}
	return faultCase{"panic before the relay", setup, run}
}

func faultPanicInRelay() faultCase {
	ep := "[127.0.0.1]:6010"
	var armed sync.Once
	boom := make(chan struct{})
	setup := func(s *Server) {
		s.onProgress = func() {
			select {
			case <-boom:
				armed.Do(func() { panic("injected fault") })
			default:
			}
		}
	}
	run := func(t *testing.T, fx *fixture, path string) {
		plain, tc, _ := established(t, fx, path, ep, 30, 30)
		close(boom) // the next progress of a session panics, once
		if _, err := tc.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		waitLine(t, fx, "relay for "+ep+" ended by internal error: injected fault")
		if _, err := io.ReadAll(plain); err != nil && !closedConn(err) {
			t.Fatal(err)
		}
		waitLine(t, fx, "DISCONNECT "+ep)
	}
	return faultCase{"panic in the relay", setup, run}
}

// TestPostlogUnavailable: with the log socket not draining or gone,
// sessions go on at full speed and nothing leaks; records are dropped.
func TestPostlogUnavailable(t *testing.T) {
	for _, mode := range []string{"not reading", "removed"} {
		t.Run(mode, func(t *testing.T) {
			fx := newFixture(t, nil)
			before := takeBaseline(t)
			sock := filepath.Join(t.TempDir(), "postlog")
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			log, err := maillog.Open(maillog.Options{Ident: "postfix/tlsproxy", Postlog: sock, Hostname: "mx"})
			if err != nil {
				t.Fatal(err)
			}
			if mode == "removed" {
				ln.Close()
				os.Remove(sock)
			}
			fx.srv.Log = log
			path, stop := serveUnix(t, fx.srv)
			start := time.Now()
			for i := range 20 {
				ep := fmt.Sprintf("[127.0.0.1]:%d", 7000+i)
				if err := fx.runSession(path, pfclient.ServerRole(pfversion.MustParse("3.7.11"), ep), 1000, int64(i)); err != nil {
					t.Fatalf("session %d: %v", i, err)
				}
			}
			// Not reading: records wait for the write deadline in the
			// log writer (or are dropped), never in a session.
			el := time.Since(start)
			if el > 10*time.Second {
				t.Errorf("20 sessions took %v with the log socket %s", el, mode)
			}
			stop()
			start = time.Now()
			log.Close() // bounded: flush wait plus one write deadline
			t.Logf("20 sessions in %v, logger closed in %v", el, time.Since(start))
			ln.Close()
			before.Check(t, "after the sessions")
		})
	}
}
