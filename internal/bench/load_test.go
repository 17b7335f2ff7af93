package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/fdpass"
)

// fakeProxy is a minimal tlsproxy for the load functions' tests: G4 server
// role, Go TLS on the passed socket, plain copying both ways. It is
// independent of internal/proxy so that these tests check the bench alone.
type fakeProxy struct {
	ln       *net.UnixListener
	cfg      *tls.Config
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests []attr.List
}

func startFakeProxy(t *testing.T) (*fakeProxy, *Dialer) {
	t.Helper()
	dir := t.TempDir()
	cf, err := WriteCert(dir, ECDSA)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cf.Cert, cf.Key)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tlsproxy")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProxy{ln: ln, cfg: &tls.Config{Certificates: []tls.Certificate{pair}}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	d := &Dialer{
		Opener:  Postscreen{Socket: sock, Version: DefaultVersion, Timeout: 5 * time.Second},
		TLS:     clientTLS(tls.VersionTLS13),
		Timeout: 5 * time.Second,
	}
	return p, d
}

func (p *fakeProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptUnix()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			p.session(c)
		}()
	}
}

func (p *fakeProxy) session(c *net.UnixConn) {
	if _, err := c.Write(attr.AppendList(nil, attr.List{attr.Str("protocol", "tlsproxy_protocol")})); err != nil {
		return
	}
	req, err := attr.NewReader(c).ReadList()
	if err != nil {
		return
	}
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	if _, err := c.Write(attr.AppendList(nil, attr.List{attr.Int("status", 1)})); err != nil {
		return
	}
	f, err := fdpass.Recv(c)
	if err != nil {
		return
	}
	remote, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	tc := tls.Server(remote, p.cfg)
	defer tc.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, tc)
		c.CloseWrite()
		close(done)
	}()
	io.Copy(tc, c)
	remote.Close()
	<-done
}

func TestPostscreenRequest(t *testing.T) {
	p, d := startFakeProxy(t)
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := d.Open(ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(pingMsg, pingReply, make([]byte, 256), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) != 1 {
		t.Fatalf("%d requests", len(p.requests))
	}
	req := p.requests[0]
	if err := req.Expect("bench", "remote_endpoint", "flags", "timeout", "timeout", "serverid"); err != nil {
		t.Fatal(err)
	}
	want := []string{s.Conn.NetConn().LocalAddr().String(), "1", "300", "300", "smtpd"}
	want[0] = "[127.0.0.1]:" + want[0][len("127.0.0.1:"):]
	for i, a := range req {
		if a.Value != want[i] {
			t.Errorf("%s = %q, want %q", a.Name, a.Value, want[i])
		}
	}
}

func TestHandshakes(t *testing.T) {
	tests := []struct {
		name    string
		version uint16
		resume  bool
	}{
		{"TLS 1.3 full", tls.VersionTLS13, false},
		{"TLS 1.3 resumed", tls.VersionTLS13, true},
		{"TLS 1.2 full", tls.VersionTLS12, false},
		{"TLS 1.2 resumed", tls.VersionTLS12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := startFakeProxy(t)
			d.TLS = clientTLS(tt.version)
			res, err := Handshakes(context.Background(), d, os.Getpid(), 4, 200*time.Millisecond, tt.resume)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sessions == 0 || res.Errors != 0 {
				t.Fatalf("%d sessions, %d errors (%v)", res.Sessions, res.Errors, res.FirstErr)
			}
			if res.State.Version != tt.version {
				t.Errorf("negotiated %x", res.State.Version)
			}
			if tt.resume && res.Resumed != res.Sessions || !tt.resume && res.Resumed != 0 {
				t.Errorf("resumed %d of %d", res.Resumed, res.Sessions)
			}
			if res.Rate() <= 0 || res.Elapsed < 200*time.Millisecond {
				t.Errorf("rate %v over %v", res.Rate(), res.Elapsed)
			}
		})
	}
}

func TestBulk(t *testing.T) {
	for _, dir := range []Direction{Inbound, Outbound} {
		t.Run(dir.String(), func(t *testing.T) {
			_, d := startFakeProxy(t)
			res, err := Bulk(context.Background(), d, os.Getpid(), 2, dir, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if res.Bytes < bulkChunk || res.MBps() <= 0 {
				t.Errorf("%d bytes, %.1f MB/s", res.Bytes, res.MBps())
			}
		})
	}
}

func TestLatency(t *testing.T) {
	_, d := startFakeProxy(t)
	ds, err := Latency(context.Background(), d, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 50 {
		t.Fatalf("%d samples", len(ds))
	}
	for _, x := range ds {
		if x <= 0 {
			t.Fatalf("non-positive round trip %v", x)
		}
	}
}

func TestDirectLatency(t *testing.T) {
	p, _ := startFakeProxy(t)
	ds, err := DirectLatency(context.Background(), p.cfg, clientTLS(tls.VersionTLS13), 50, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 50 {
		t.Fatalf("%d samples", len(ds))
	}
}

func TestHoldAlive(t *testing.T) {
	_, d := startFakeProxy(t)
	h := Hold(context.Background(), d, 20, 4)
	if len(h.Sessions) != 20 || h.Errors != 0 {
		t.Fatalf("held %d, %d errors (%v)", len(h.Sessions), h.Errors, h.FirstErr)
	}
	// One session dropped by the "proxy" side must show up as not alive.
	h.Sessions[3].Conn.NetConn().Close()
	if got := h.Alive(context.Background(), 4, 2*time.Second); got != 19 {
		t.Errorf("alive %d, want 19", got)
	}
	h.Close()
	if h.Sessions != nil {
		t.Error("Close kept sessions")
	}
}

func TestHoldGivesUp(t *testing.T) {
	d := &Dialer{
		Opener:  Postscreen{Socket: filepath.Join(t.TempDir(), "nothing"), Version: DefaultVersion, Timeout: time.Second},
		TLS:     clientTLS(tls.VersionTLS13),
		Timeout: time.Second,
	}
	h := Hold(context.Background(), d, 1000, 1)
	if len(h.Sessions) != 0 || h.Errors != holdGiveUp || h.FirstErr == nil {
		t.Errorf("held %d, %d errors; want 0 and %d", len(h.Sessions), h.Errors, holdGiveUp)
	}
	var ne *net.OpError
	if !errors.As(h.FirstErr, &ne) {
		t.Errorf("first error %v is not a connect error", h.FirstErr)
	}
}
