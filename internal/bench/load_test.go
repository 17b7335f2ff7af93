package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
)

// fakeProxy is a minimal tlsproxy for the load functions' tests: G4 server
// role, or client role with the 3.7 22-attribute context, Go TLS on the
// passed socket, plain copying both ways. It is independent of
// internal/proxy so that these tests check the bench alone.
type fakeProxy struct {
	ln       *net.UnixListener
	cfg      *tls.Config
	pair     tls.Certificate
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests []attr.List
	seconds  []attr.List // client role: the TLS settings list
}

// ecdsaPair writes an ECDSA certificate and key into dir with WriteCert
// and returns them loaded.
func ecdsaPair(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	cf, err := WriteCert(dir, ECDSA)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cf.Cert, cf.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func startFakeProxy(t *testing.T) (*fakeProxy, *Dialer) {
	t.Helper()
	dir := t.TempDir()
	pair := ecdsaPair(t, dir)
	sock := filepath.Join(dir, "tlsproxy")
	ln := pftest.ListenUnix(t, sock)
	p := &fakeProxy{ln: ln, cfg: &tls.Config{Certificates: []tls.Certificate{pair}}, pair: pair}
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

// smtpDialer is a client-role Dialer on the fake proxy.
func (p *fakeProxy) smtpDialer() *Dialer {
	d := smtpDialer(p.ln.Addr().String(), DefaultVersion, "1", p.pair)
	d.Timeout = 5 * time.Second
	return d
}

func (p *fakeProxy) session(c *net.UnixConn) {
	if _, err := c.Write(attr.AppendList(nil, attr.List{attr.Str("protocol", "tlsproxy_protocol")})); err != nil {
		return
	}
	rd := attr.NewReader(c)
	req, err := rd.ReadList()
	if err != nil {
		return
	}
	flags, _ := req.Get("flags")
	client := flags == "6"
	var second attr.List
	if client {
		if second, err = rd.ReadList(); err != nil {
			return
		}
	}
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.seconds = append(p.seconds, second)
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
	if client {
		tc = tls.Client(remote, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return
		}
		var ctx attr.List
		for _, name := range pfversion.ContextNames(22) {
			ctx = append(ctx, attr.Str(name, "0"))
		}
		if _, err := c.Write(attr.AppendList(nil, ctx)); err != nil {
			return
		}
	}
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

// pingOne opens one session through d to the fake proxy p and pings
// it. It returns the session, its listener, and the one request the proxy
// got with the settings list that followed it (client role only).
func pingOne(t *testing.T, p *fakeProxy, d *Dialer) (s *Session, ln *net.TCPListener, req, second attr.List) {
	t.Helper()
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s, err = d.Open(ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(pingMsg, pingReply, make([]byte, 256), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) != 1 {
		t.Fatalf("%d requests", len(p.requests))
	}
	return s, ln, p.requests[0], p.seconds[0]
}

func TestPostscreenRequest(t *testing.T) {
	p, d := startFakeProxy(t)
	s, _, req, _ := pingOne(t, p, d)
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

func TestSMTPRequest(t *testing.T) {
	p, _ := startFakeProxy(t)
	s, ln, req, second := pingOne(t, p, p.smtpDialer())
	if !s.Client {
		t.Error("client-role session not marked Client")
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	want := map[string]string{"remote_endpoint": "[127.0.0.1]:" + port, "flags": "6", "serverid": "smtp"}
	for name, v := range want {
		if got, _ := req.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	// 3.7.11's settings list: the 18 params, 14 init props and the start
	// props; log_level follows smtp_tls_loglevel, every file is empty.
	checks := map[string]string{"log_level": "1", "cert_file": "", "CAfile": "", "tls_level": "1",
		"namaddr": "127.0.0.1[127.0.0.1]:" + port}
	for name, v := range checks {
		if got, ok := second.Get(name); !ok || got != v {
			t.Errorf("settings %s = %q, want %q", name, got, v)
		}
	}
}

func TestClientRoleSessions(t *testing.T) {
	p, _ := startFakeProxy(t)
	d := p.smtpDialer()
	res, err := Handshakes(context.Background(), d, os.Getpid(), 4, 200*time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions == 0 || res.Errors != 0 {
		t.Fatalf("%d sessions, %d errors (%v)", res.Sessions, res.Errors, res.FirstErr)
	}
	if res.Resumed != 0 || res.State.Version != tls.VersionTLS13 || res.State.CurveID != tls.X25519 {
		t.Errorf("resumed %d, version %x, group %v; want full TLS 1.3 handshakes with X25519", res.Resumed, res.State.Version, res.State.CurveID)
	}
	b, err := Bulk(context.Background(), d, os.Getpid(), 1, Outbound, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bytes < bulkChunk {
		t.Errorf("bulk: %d bytes", b.Bytes)
	}
	h := Hold(context.Background(), d, 10, 2)
	defer h.Close()
	if len(h.Sessions) != 10 || h.Errors != 0 {
		t.Fatalf("held %d, %d errors (%v)", len(h.Sessions), h.Errors, h.FirstErr)
	}
	h.Sessions[0].Plain.Close()
	if got := h.Alive(context.Background(), 4, 2*time.Second); got != 9 {
		t.Errorf("alive %d, want 9", got)
	}
}

// TestClientRoleRefused: a status 0 ends the Open with a clear error and
// leaves nothing running (the remote server's handshake is ended).
func TestClientRoleRefused(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "tlsproxy")
	ln := pftest.ListenUnix(t, sock)
	done := pftest.AcceptOne(ln, func(c net.Conn) error {
		c.Write(attr.AppendList(nil, attr.List{attr.Str("protocol", "tlsproxy_protocol")}))
		rd := attr.NewReader(c)
		if _, err := rd.ReadList(); err != nil {
			return err
		}
		if _, err := rd.ReadList(); err != nil {
			return err
		}
		_, err := c.Write(attr.AppendList(nil, attr.List{attr.Int("status", 0)}))
		return err
	}, func(err error) error { return err })
	pair := ecdsaPair(t, dir)
	tl, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	_, err = smtpDialer(sock, DefaultVersion, "1", pair).Open(tl, nil)
	if err == nil || !strings.Contains(err.Error(), "status 0") {
		t.Errorf("Open = %v, want a status 0 error", err)
	}
	<-done
}
