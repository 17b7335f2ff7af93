package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/maillog"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// fixture is one proxy.Server with a self-signed certificate.
type fixture struct {
	srv  *Server
	rec  *maillog.Recorder
	pool *x509.CertPool
}

var (
	certOnce sync.Once
	caPEM    []byte
	certPEM  []byte
	keyPEM   []byte
)

func newFixture(t testing.TB, mod func(*tlspolicy.ServerSettings)) *fixture {
	t.Helper()
	certOnce.Do(func() {
		ca := pftest.NewCA(t, "Test CA")
		caPEM = ca.CertPEM
		certPEM, keyPEM = ca.Issue(t, "mx.example.test", []string{"mx.example.test"}, pftest.KeyRSA2048)
	})
	dir := t.TempDir()
	pftest.WriteFiles(t, dir, map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM})
	set := tlspolicy.ServerSettings{
		SecurityLevel: "may", CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		VerifyDepth: 9, Protocols: ">=TLSv1", MandatoryProtocols: ">=TLSv1", Ciphers: "medium",
		MandatoryCiphers: "medium", FingerprintDigest: "sha256", EECDHGrade: "auto", LogLevel: "1",
	}
	if mod != nil {
		mod(&set)
	}
	ts, err := tlspolicy.NewServer(set, logs.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l, rec := maillog.NewRecorder()
	pool := pftest.CertPool(t, caPEM)
	// Relay directions park at every pause in their input (1 ms without
	// any), so that every test runs the parking path; production waits
	// 1 s, and TestRelayUnderLoad also runs directions that never park.
	return &fixture{srv: &Server{TLS: ts, Log: l, ParkAfter: time.Millisecond}, rec: rec, pool: pool}
}

// pair is one running session: the postscreen side of the plaintext
// socket and a channel that closes when Serve has returned.
type pair struct {
	plain *net.UnixConn
	done  chan struct{}
}

func (fx *fixture) start(t *testing.T) pair {
	t.Helper()
	ours, theirs := pftest.UnixPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fx.srv.Serve(ours)
	}()
	t.Cleanup(func() {
		theirs.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("session did not end")
		}
	})
	return pair{plain: theirs, done: done}
}

// startShaken starts a session, hands it a remote socket for endpoint ep
// and completes the remote client's TLS handshake.
func (fx *fixture) startShaken(t *testing.T, ep string) (pair, *tls.Conn, net.Conn) {
	t.Helper()
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	handOver(t, p, FlagRoleServer, rf, ep)
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return p, tc, rc
}

// handOver does postscreen's part up to the fd: announcement, request,
// status; on status 1 it passes the remote socket and closes its copy.
func handOver(t *testing.T, p pair, flags int, remote *os.File, endpoint string) int {
	t.Helper()
	return handOverTimeouts(t, p, flags, 30, 30, remote, endpoint)
}

// handOverTimeouts is handOver with the request's handshake and session
// timeouts (seconds).
func handOverTimeouts(t *testing.T, p pair, flags, hs, idle int, remote *os.File, endpoint string) int {
	t.Helper()
	if err := pftest.ReadAnnouncement(p.plain); err != nil {
		t.Fatal(err)
	}
	st, err := pftest.RequestStatus(p.plain, endpoint, flags, hs, idle, "smtpd")
	if err != nil {
		t.Fatal(err)
	}
	if st == 1 {
		if err := pftest.PassFD(p.plain, remote); err != nil {
			t.Fatal(err)
		}
	}
	remote.Close()
	return st
}

func waitDone(t *testing.T, p pair) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
}

func (fx *fixture) tlsClient(c net.Conn) *tls.Conn {
	return tls.Client(c, &tls.Config{RootCAs: fx.pool, ServerName: "mx.example.test"})
}

func TestSessionRelayAndPlaintextEOF(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	ep := "[" + rc.LocalAddr().(*net.TCPAddr).IP.String() + "]:" + fmt.Sprint(rc.LocalAddr().(*net.TCPAddr).Port)
	if st := handOver(t, p, FlagRoleServer, rf, ep); st != 1 {
		t.Fatalf("status %d, want 1", st)
	}
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	// remote -> plaintext
	if _, err := tc.Write([]byte("EHLO client.example\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("EHLO client.example\r\n"))
	if _, err := io.ReadFull(p.plain, got); err != nil || string(got) != "EHLO client.example\r\n" {
		t.Fatalf("plaintext got %q, %v", got, err)
	}
	// plaintext -> remote, then plaintext EOF: the remote sees the
	// data, then a clean close_notify (io.EOF).
	if _, err := p.plain.Write([]byte("250 mx\r\n221 bye\r\n")); err != nil {
		t.Fatal(err)
	}
	p.plain.Close()
	all, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("remote read: %v (want clean close_notify)", err)
	}
	if string(all) != "250 mx\r\n221 bye\r\n" {
		t.Fatalf("remote got %q", all)
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{
		"CONNECT from " + ep,
		"Anonymous TLS connection established from " + ep + ": TLSv1.3 with cipher ",
		"DISCONNECT " + ep,
	}, []string{"warning:", "handshake failed"})
}

func TestSessionRemoteEOFDeliversEverything(t *testing.T) {
	fx := newFixture(t, nil)
	p, tc, _ := fx.startShaken(t, "[127.0.0.1]:2525")
	payload := bytes.Repeat([]byte("QUIT\r\n"), 20000) // 120 kB in many records
	if _, err := tc.Write(payload); err != nil {
		t.Fatal(err)
	}
	tc.Close() // close_notify, then FIN
	all, err := io.ReadAll(p.plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, payload) {
		t.Fatalf("plaintext got %d bytes, want %d", len(all), len(payload))
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{"DISCONNECT [127.0.0.1]:2525"}, []string{"warning:"})
}

func TestSessionBothWaysIntegrity(t *testing.T) {
	fx := newFixture(t, nil)
	p, tc, _ := fx.startShaken(t, "[127.0.0.1]:2525")
	up := make([]byte, 1<<20)
	down := make([]byte, 1<<20)
	rand.Read(up)
	rand.Read(down)
	var wg sync.WaitGroup
	var upGot, downGot []byte
	var upErr, downErr error
	wg.Add(3)
	go func() { defer wg.Done(); _, upErr = tc.Write(up) }()
	go func() { defer wg.Done(); _, downErr = p.plain.Write(down) }()
	go func() { defer wg.Done(); upGot, _ = readN(p.plain, len(up)) }()
	downGot, _ = readN(tc, len(down))
	wg.Wait()
	if upErr != nil || downErr != nil {
		t.Fatal(upErr, downErr)
	}
	if sha256.Sum256(upGot) != sha256.Sum256(up) || sha256.Sum256(downGot) != sha256.Sum256(down) {
		t.Fatal("bytes altered in transit")
	}
}

func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func TestSessionPreHandshakeBytesNeverReachPlaintext(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	// A remote client that pipelines a command before its ClientHello
	// (the STARTTLS injection pattern).
	if _, err := rc.Write([]byte("EHLO injected\r\nMAIL FROM:<x@y>\r\n")); err != nil {
		t.Fatal(err)
	}
	handOver(t, p, FlagRoleServer, rf, "[127.0.0.1]:2526")
	all, err := io.ReadAll(p.plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Fatalf("plaintext side received %q", all)
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{
		"CONNECT from [127.0.0.1]:2526",
		"warning: TLS library problem: error:0A00010B:SSL routines::wrong version number:",
		"TLS handshake failed for service=smtpd peer=[127.0.0.1]:2526",
		"DISCONNECT [127.0.0.1]:2526",
	}, nil)
}

func TestSessionSendContext(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	handOver(t, p, FlagRoleServer|FlagSendContext, rf, "[127.0.0.1]:2527")
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Write([]byte("EHLO x\r\n")); err != nil {
		t.Fatal(err)
	}
	rd := attr.NewReader(oneByte{p.plain})
	l, err := rd.ReadList()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"peer_CN", "issuer_CN", "peer_fingerprint", "peer_pubkey_fingerprint", "level",
		"peer_status", "cipher_protocol", "cipher_name", "cipher_usebits", "cipher_algbits",
		"key_exchange", "key_exchange_curve", "key_exchange_bits", "clnt_signature",
		"clnt_signature_curve", "clnt_signature_bits", "clnt_signature_digest", "srvr_signature",
		"srvr_signature_curve", "srvr_signature_bits", "srvr_signature_digest", "namaddr"}
	if err := l.Expect("test", want...); err != nil {
		t.Fatal(err)
	}
	if v, _ := l.Get("namaddr"); v != "[127.0.0.1]:2527" {
		t.Errorf("namaddr %q", v)
	}
	// The data follows the list directly.
	rest := make([]byte, 8)
	if _, err := io.ReadFull(p.plain, rest); err != nil || string(rest) != "EHLO x\r\n" {
		t.Fatalf("after context: %q %v", rest, err)
	}
}

// oneByte hands out one byte per Read, so an attr.Reader on it never reads
// past the end of a list.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(b []byte) (int, error) { return o.r.Read(b[:1]) }

func TestSessionStatusZero(t *testing.T) {
	tests := []struct {
		name  string
		flags int
		mod   func(*tlspolicy.ServerSettings)
		lines []string
	}{
		{"bogus flags", 0, nil, []string{
			"CONNECT (bogus_direction) [192.0.2.1]:25",
			"warning: tlsp_get_request_event: bad request flags: 0x0",
			"TLS handshake failed for service=smtpd peer=[192.0.2.1]:25",
			"DISCONNECT [192.0.2.1]:25"}},
		{"both roles", 3, nil, []string{"warning: tlsp_get_request_event: bad request flags: 0x3"}},
		{"level none", FlagRoleServer, func(s *tlspolicy.ServerSettings) { s.SecurityLevel = "none" },
			[]string{"CONNECT from [192.0.2.1]:25", "TLS handshake failed for service=smtpd peer=[192.0.2.1]:25"}},
		{"no certificate", FlagRoleServer, func(s *tlspolicy.ServerSettings) { s.CertFile, s.KeyFile = "", "" },
			[]string{"CONNECT from [192.0.2.1]:25", "DISCONNECT [192.0.2.1]:25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, tt.mod)
			p := fx.start(t)
			_, rf := pftest.RemotePair(t)
			if st := handOver(t, p, tt.flags, rf, "[192.0.2.1]:25"); st != 0 {
				t.Fatalf("status %d, want 0", st)
			}
			p.plain.Close()
			waitDone(t, p)
			wantLines(t, fx.rec, tt.lines, nil)
		})
	}
}

func TestSessionBadRequests(t *testing.T) {
	tests := []struct {
		name  string
		req   string
		lines []string
	}{
		{"G2 request", "remote_endpoint\x00[192.0.2.10]:51234\x00flags\x001\x00timeout\x00300\x00server_id\x00smtpd\x00\x00",
			[]string{"warning: unexpected attribute server_id from plaintext (expecting: timeout)",
				"warning: tlsp_get_request_event: receive request attributes: "}},
		{"missing serverid", "remote_endpoint\x00[192.0.2.10]:51234\x00flags\x001\x00timeout\x00300\x00timeout\x00300\x00\x00",
			[]string{"warning: missing attribute serverid in input from plaintext"}},
		{"bad number", "remote_endpoint\x00[192.0.2.10]:51234\x00flags\x00one\x00timeout\x00300\x00timeout\x00300\x00serverid\x00smtpd\x00\x00",
			[]string{"warning: tlsp_get_request_event: receive request attributes: "}},
		{"truncated", "remote_endpoint\x00[192.0.2.10]:51", []string{"warning: tlsp_get_request_event: receive request attributes: "}},
		{"hash", "{\x00}\x00\x00", []string{"warning: tlsp_get_request_event: receive request attributes: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			p := fx.start(t)
			if err := pftest.ReadAnnouncement(p.plain); err != nil {
				t.Fatal(err)
			}
			if _, err := p.plain.Write([]byte(tt.req)); err != nil {
				t.Fatal(err)
			}
			p.plain.CloseWrite()
			// No status, just EOF.
			all, err := io.ReadAll(p.plain)
			if err != nil || len(all) != 0 {
				t.Fatalf("got %q, %v; want EOF and nothing", all, err)
			}
			waitDone(t, p)
			wantLines(t, fx.rec, tt.lines, []string{"CONNECT", "DISCONNECT"})
		})
	}
}

func TestSessionNoFD(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	if err := pftest.ReadAnnouncement(p.plain); err != nil {
		t.Fatal(err)
	}
	if st, err := pftest.RequestStatus(p.plain, "[127.0.0.1]:1", FlagRoleServer, 30, 30, "smtpd"); err != nil || st != 1 {
		t.Fatal(st, err)
	}
	// Plain data where the descriptor should be.
	if _, err := p.plain.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{
		"warning: tlsp_get_fd_event: receive remote SMTP peer file descriptor: ",
		"TLS handshake failed for service=smtpd peer=[127.0.0.1]:1",
		"DISCONNECT [127.0.0.1]:1",
	}, nil)
}

func TestSessionIdleTimeout(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.SessionSlack = time.Nanosecond // idle limit = 1 s (request timeout) + 1 ns
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	if st := handOverTimeouts(t, p, FlagRoleServer, 5, 1, rf, "[127.0.0.1]:3"); st != 1 {
		t.Fatalf("status %d", st)
	}
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitDone(t, p)
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("session ended after %v, before its idle limit", el)
	}
	wantLines(t, fx.rec, []string{"warning: ciphertext read/write timeout for [127.0.0.1]:3", "DISCONNECT [127.0.0.1]:3"}, nil)
}

// TestSessionsLeakNothing runs sessions of every kind and checks that
// goroutines and descriptors come back to where they were.
func TestSessionsLeakNothing(t *testing.T) {
	fx := newFixture(t, nil)
	before := takeBaseline(t)
	for i := 0; i < 5; i++ {
		func() {
			ours, theirs := pftest.UnixPair(t)
			done := make(chan struct{})
			go func() { defer close(done); fx.srv.Serve(ours) }()
			rc, rf := pftest.RemotePair(t)
			handOver(t, pair{plain: theirs, done: done}, FlagRoleServer, rf, "[127.0.0.1]:9")
			tc := fx.tlsClient(rc)
			if i%2 == 0 {
				_ = tc.Handshake()
			}
			theirs.Close()
			rc.Close()
			<-done
		}()
	}
	before.Check(t, "after the sessions")
}

// wantLines checks that the recorded log has each of want as a prefix of
// some line, in order, and no line containing any of forbid.
func wantLines(t *testing.T, rec *maillog.Recorder, want, forbid []string) {
	t.Helper()
	lines := rec.Lines()
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
		for _, f := range forbid {
			if strings.Contains(l, f) {
				t.Errorf("unexpected log line %q", l)
			}
		}
	}
	if i < len(want) {
		t.Errorf("log line %q missing (in order); log:\n%s", want[i], strings.Join(lines, "\n"))
	}
}

// TestSessionPanicIsContained: a panic inside one session's relay ends
// that session with a warning; a session running beside it goes on.
func TestSessionPanicIsContained(t *testing.T) {
	fx := newFixture(t, nil)
	var armed sync.Once
	boom := make(chan struct{})
	fx.srv.onProgress = func() {
		select {
		case <-boom:
			armed.Do(func() { panic("injected fault") })
		default:
		}
	}
	good := fx.start(t)
	bad := fx.start(t)
	rcGood, rfGood := pftest.RemotePair(t)
	rcBad, rfBad := pftest.RemotePair(t)
	handOver(t, good, FlagRoleServer, rfGood, "[127.0.0.1]:1001")
	handOver(t, bad, FlagRoleServer, rfBad, "[127.0.0.1]:1002")
	tGood, tBad := fx.tlsClient(rcGood), fx.tlsClient(rcBad)
	if err := tGood.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := tBad.Handshake(); err != nil {
		t.Fatal(err)
	}
	close(boom) // the next progress of any session panics, once
	if _, err := tBad.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitDone(t, bad)
	waitLine(t, fx, "relay for [127.0.0.1]:1002 ended by internal error: injected fault")
	// The other session still relays both ways.
	if _, err := tGood.Write([]byte("ping\r\n")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(good.plain, b); err != nil || string(b) != "ping\r\n" {
		t.Fatalf("good session got %q, %v", b, err)
	}
	if _, err := good.plain.Write([]byte("pong\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tGood, b); err != nil || string(b) != "pong\r\n" {
		t.Fatalf("good session remote got %q, %v", b, err)
	}
}
