package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// Hostile TLS input: each must end the session cleanly,
// with the usual CONNECT / "TLS handshake failed" / DISCONNECT records and
// at most one warning, nothing on the plaintext side, and nothing but a
// TLS alert back to the remote.

func TestHostileHandshakes(t *testing.T) {
	ch := pftest.ClientHello(t)
	tests := []struct {
		name       string
		send       []byte
		closeWrite bool // half-close TCP after sending
	}{
		{"garbage", []byte("this is not a ClientHello\r\n"), false},
		{"empty, then EOF", nil, true},
		{"truncated record, then EOF", ch[:len(ch)/2], true},
		{"truncated header, then EOF", ch[:3], true},
		{"record longer than TLS allows", append([]byte{22, 3, 1, 0xff, 0xff}, make([]byte, 1000)...), false},
		{"handshake message of 16 MiB", []byte{22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, false},
		{"hello cut inside its length", append([]byte{22, 3, 1, 0, 4}, ch[5:9]...), true},
		{"SSLv2 hello", []byte{0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10}, false},
		{"alert instead of a hello", []byte{21, 3, 1, 0, 2, 2, 40}, false},
		{"application data instead of a hello", []byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, false},
		{"ten thousand empty handshake records", emptyRecords(10000), false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			p := fx.start(t)
			rc, rf := pftest.RemotePair(t)
			ep := fmt.Sprintf("[127.0.0.1]:%d", 8000+i)
			handOver(t, p, FlagRoleServer, rf, ep)
			_ = rc.SetDeadline(time.Now().Add(20 * time.Second))
			_ = p.plain.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := rc.Write(tt.send); err != nil && !closedConn(err) {
				t.Fatal(err)
			}
			if tt.closeWrite {
				if err := rc.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			back, err := io.ReadAll(rc)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("session still open after 20 s")
			}
			if len(back) > 0 && back[0] != 21 {
				t.Errorf("remote got % x, want nothing or a TLS alert", back[:min(len(back), 16)])
			}
			if got, _ := io.ReadAll(p.plain); len(got) > 0 {
				t.Errorf("plaintext side got %q", got)
			}
			waitDone(t, p)
			wantLines(t, fx.rec, []string{"CONNECT from " + ep, "TLS handshake failed for service=smtpd peer=" + ep,
				"DISCONNECT " + ep}, []string{"established", "internal error"})
			atMostWarnings(t, fx, 1)
			t.Logf("log: %q", fx.rec.Lines())
		})
	}
}

// emptyRecords is n handshake records with no payload.
func emptyRecords(n int) []byte {
	var b []byte
	for range n {
		b = append(b, 22, 3, 1, 0, 0)
	}
	return b
}

// sClient is an `openssl s_client` connected through the proxy: its
// stdin and its output lines (stdout and stderr together).
type sClient struct {
	stdin io.WriteCloser
	lines chan string
	seen  []string
}

// startSClient starts openssl s_client with args against a loopback
// listener, hands the accepted socket to p's session as the remote ep and
// waits for the end of the handshake; the plaintext side gets a deadline
// d from then.
func startSClient(t *testing.T, p pair, ep string, d time.Duration, args ...string) *sClient {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command("openssl", append([]string{"s_client", "-connect", ln.Addr().String()}, args...)...)
	stdin, pr := pftest.StartCombined(t, cmd)
	sc := &sClient{stdin: stdin, lines: make(chan string, 64)}
	go func() {
		defer close(sc.lines)
		defer pr.Close()
		s := bufio.NewScanner(pr)
		for s.Scan() {
			sc.lines <- s.Text()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		for range sc.lines {
		}
		cmd.Wait()
		timer.Stop()
	})
	_ = ln.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	handOver(t, p, FlagRoleServer, f, ep)
	sc.waitFor(t, "Verify return code")
	_ = p.plain.SetDeadline(time.Now().Add(d))
	return sc
}

// waitFor reads output lines until one contains substr (20 s at most).
func (sc *sClient) waitFor(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-sc.lines:
			if !ok {
				t.Fatalf("openssl ended before %q:\n%s", substr, strings.Join(sc.seen, "\n"))
			}
			sc.seen = append(sc.seen, l)
			if strings.Contains(l, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q from openssl:\n%s", substr, strings.Join(sc.seen, "\n"))
		}
	}
}

func (sc *sClient) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(sc.stdin, s); err != nil {
		t.Fatal(err)
	}
}

// readLine reads exactly len(want) bytes from c and compares.
func readExactly(t *testing.T, c io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("plaintext side got %q, %v; want %q", got, err, want)
	}
}

// TestClientRenegotiation: a TLS 1.2 client that asks to renegotiate
// after the handshake (OpenSSL's "R" command) ends its session with one
// warning; the data sent before arrives.
func TestClientRenegotiation(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	ep := "[127.0.0.1]:8100"
	sc := startSClient(t, p, ep, 20*time.Second, "-tls1_2", "-no_ign_eof")
	sc.send(t, "hello\n")
	readExactly(t, p.plain, "hello\n")
	sc.send(t, "R\n")
	sc.waitFor(t, "RENEGOTIATING")
	if rest, _ := io.ReadAll(p.plain); len(rest) > 0 {
		t.Errorf("plaintext side got %q after the renegotiation attempt", rest)
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "Anonymous TLS connection established from " + ep,
		"DISCONNECT " + ep}, []string{"internal error"})
	atMostWarnings(t, fx, 1)
	t.Logf("log: %q", fx.rec.Lines())
}

// TestClientKeyUpdates: a TLS 1.3 client sends 1000 KeyUpdates during
// the relay, half of them asking for one back; every line sent between
// them arrives in order and the session goes on normally.
func TestClientKeyUpdates(t *testing.T) {
	const updates = 1000
	fx := newFixture(t, nil)
	p := fx.start(t)
	ep := "[127.0.0.1]:8101"
	sc := startSClient(t, p, ep, 60*time.Second, "-tls1_3", "-no_ign_eof")
	for i := range updates {
		// OpenSSL queues a KeyUpdate and sends it before its next
		// record: the line that follows.
		sc.send(t, "kK"[i%2:i%2+1]+"\n")
		sc.waitFor(t, "KEYUPDATE")
		line := fmt.Sprintf("line %d after a key update\n", i)
		sc.send(t, line)
		readExactly(t, p.plain, line)
	}
	if _, err := p.plain.Write([]byte("250 still here\n")); err != nil {
		t.Fatal(err)
	}
	sc.waitFor(t, "250 still here")
	p.plain.Close()
	waitDone(t, p)
	wantLines(t, fx.rec, []string{"CONNECT from " + ep, "Anonymous TLS connection established from " + ep,
		"DISCONNECT " + ep}, []string{"warning:"})
	t.Logf("%d KeyUpdates (%d asking for one back) relayed without a warning", updates, updates/2)
}
