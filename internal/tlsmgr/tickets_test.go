package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

// testState is a minimal TLS 1.3 server SessionState (ticket.go format):
// version, type server, TLS_AES_128_GCM_SHA256, created_at, secret, no
// extra, no EMS, no early data, no certificates, no verified chains.
func testState(t testing.TB, secret byte) *tls.SessionState {
	t.Helper()
	b, _ := hex.DecodeString("0304" + "01" + "1301" + "0000000065000000" + "20")
	b = append(b, bytes.Repeat([]byte{secret}, 32)...)
	b = append(b, make([]byte, 3+1+1+3+3)...)
	ss, err := tls.ParseSessionState(b)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func stateBytes(t testing.TB, ss *tls.SessionState) []byte {
	t.Helper()
	b, err := ss.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingSource counts TicketKey calls.
type countingSource struct {
	KeySource
	n atomic.Int32
}

func (c *countingSource) TicketKey(name []byte) (*Key, error) {
	c.n.Add(1)
	return c.KeySource.TicketKey(name)
}

// process is one simulated tlsproxy process: its own client and Tickets.
func process(t *testing.T, f *fakeTLSMgr, clk *fakeClock) (*Tickets, *countingSource) {
	src := &countingSource{KeySource: mustClient(t, f.path, fastOpts(nil))}
	o := TicketOptions{Lifetime: time.Hour}
	if clk != nil {
		o.Now = clk.Now
	}
	return NewTickets(src, o), src
}

var epoch = time.Unix(1_700_000_000, 0)

// TestTicketsAcrossProcesses: a ticket from one process opens in another
// (and in a restarted one), under the same scope only; tampering fails.
func TestTicketsAcrossProcesses(t *testing.T) {
	f := newFake(t, true)
	f.set(func(f *fakeTLSMgr) { f.keys = []*Key{testKey(1, epoch.Add(30*time.Minute))} })
	clk := &fakeClock{now: epoch}
	a, _ := process(t, f, clk)
	b, _ := process(t, f, clk)
	ss := testState(t, 7)
	tkt, err := a.Wrap("smtpd-scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tkt[:KeyNameSize], bytes.Repeat([]byte{1}, 16)) {
		t.Fatalf("ticket does not start with the key name: %x", tkt[:16])
	}
	tampered := bytes.Clone(tkt)
	tampered[len(tampered)-1] ^= 1
	cases := []struct {
		name   string
		tk     *Tickets
		scope  string
		ticket []byte
		ok     bool
	}{
		{"same process", a, "smtpd-scope", tkt, true},
		{"other process", b, "smtpd-scope", tkt, true},
		{"other scope", b, "other-scope", tkt, false},
		{"empty scope", b, "", tkt, false},
		{"tampered", b, "smtpd-scope", tampered, false},
		{"truncated", b, "smtpd-scope", tkt[:20], false},
		{"empty", b, "smtpd-scope", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.tk.Unwrap(tc.scope, tc.ticket, tls.ConnectionState{})
			if err != nil {
				t.Fatalf("Unwrap error %v (must never abort the handshake)", err)
			}
			if (got != nil) != tc.ok {
				t.Fatalf("resumed = %v, want %v", got != nil, tc.ok)
			}
			if got != nil && !bytes.Equal(stateBytes(t, got), stateBytes(t, ss)) {
				t.Error("session state changed")
			}
		})
	}
	// A restarted process (fresh Tickets, fresh client) opens it too.
	c, _ := process(t, f, clk)
	if got, _ := c.Unwrap("smtpd-scope", tkt, tls.ConnectionState{}); got == nil {
		t.Error("restarted process did not resume")
	}
}

// TestTicketRotation follows tlsmgr's schedule with T = 1 h: a key issues
// tickets until its expiry and decrypts until expiry + T/2; once tlsmgr has
// dropped it, a process without it cached cannot open its tickets.
func TestTicketRotation(t *testing.T) {
	f := newFake(t, true)
	k1 := testKey(1, epoch.Add(30*time.Minute))
	k2 := testKey(2, epoch.Add(60*time.Minute))
	k3 := testKey(3, epoch.Add(90*time.Minute))
	f.set(func(f *fakeTLSMgr) { f.keys = []*Key{k1} })
	clk := &fakeClock{now: epoch}
	a, srcA := process(t, f, clk)
	a.Wrap("s", tls.ConnectionState{}, testState(t, 1))

	// 29 min: the cached current key is still used, without asking tlsmgr.
	// (Issued this late, the ticket is only 32 min old at 61 min: only the
	// key's decryption window refuses it then, not the session age.)
	clk.advance(29 * time.Minute)
	old, _ := a.Wrap("s", tls.ConnectionState{}, testState(t, 1))
	if n := srcA.n.Load(); n != 1 {
		t.Errorf("%d key requests, want 1 (cached)", n)
	}

	// 31 min: k1 expired for issuing; tlsmgr rotated to k2 but keeps k1.
	clk.advance(2 * time.Minute)
	f.set(func(f *fakeTLSMgr) { f.keys = []*Key{k2, k1} })
	newer, _ := a.Wrap("s", tls.ConnectionState{}, testState(t, 2))
	if !bytes.Equal(newer[:16], k2.Name[:]) {
		t.Fatalf("new ticket uses key %x, want k2", newer[:16])
	}
	b, _ := process(t, f, clk)
	for _, tk := range []*Tickets{a, b} {
		if got, _ := tk.Unwrap("s", old, tls.ConnectionState{}); got == nil {
			t.Error("k1 ticket refused within its decryption window")
		}
	}

	// 61 min: tlsmgr rotated k1 out. A fresh process cannot open k1 tickets;
	// process a still has k1 cached and valid until 30+30 = 60 min: expired.
	clk.advance(30 * time.Minute)
	f.set(func(f *fakeTLSMgr) { f.keys = []*Key{k3, k2} })
	c, _ := process(t, f, clk)
	for name, tk := range map[string]*Tickets{"a (cached)": a, "b": b, "fresh": c} {
		if got, _ := tk.Unwrap("s", old, tls.ConnectionState{}); got != nil {
			t.Errorf("%s: rotated-out k1 ticket resumed", name)
		}
		if got, _ := tk.Unwrap("s", newer, tls.ConnectionState{}); got == nil {
			t.Errorf("%s: k2 ticket refused", name)
		}
	}
}

// TestTicketsTLSMgrDown: without a key Wrap still succeeds (an aborted
// handshake would be worse than Postfix's "no ticket") but the ticket never
// resumes, and tlsmgr is not asked again during the back-off.
func TestTicketsTLSMgrDown(t *testing.T) {
	f := newFake(t, true)
	f.stop()
	clk := &fakeClock{now: epoch}
	var w warnings
	src := &countingSource{KeySource: mustClient(t, f.path, fastOpts(nil))}
	tk := NewTickets(src, TicketOptions{Lifetime: time.Hour, Now: clk.Now, Log: &w})
	dud, err := tk.Wrap("s", tls.ConnectionState{}, testState(t, 1))
	if err != nil || len(dud) < KeyNameSize+nonceSize {
		t.Fatalf("Wrap = %x, %v", dud, err)
	}
	tk.Wrap("s", tls.ConnectionState{}, testState(t, 1))
	if got, _ := tk.Unwrap("s", dud, tls.ConnectionState{}); got != nil {
		t.Error("dud ticket resumed")
	}
	if n := src.n.Load(); n != 1 {
		t.Errorf("%d key requests during back-off, want 1", n)
	}
	if len(w.list()) != 1 {
		t.Errorf("warnings %q", w.list())
	}
	// tlsmgr back, back-off over: tickets work again.
	f.start()
	clk.advance(DefaultBackoff)
	good, _ := tk.Wrap("s", tls.ConnectionState{}, testState(t, 1))
	if got, _ := tk.Unwrap("s", good, tls.ConnectionState{}); got == nil {
		t.Error("no resumption after tlsmgr came back")
	}
}

// TestTicketAcceptHook: the caller can refuse sessions without a client
// certificate; the flag is recorded at Wrap time.
func TestTicketAcceptHook(t *testing.T) {
	f := newFake(t, true)
	f.set(func(f *fakeTLSMgr) { f.keys = []*Key{testKey(1, epoch.Add(30*time.Minute))} })
	clk := &fakeClock{now: epoch}
	var seen []SessionInfo
	tk := NewTickets(mustClient(t, f.path, fastOpts(nil)), TicketOptions{
		Lifetime: time.Hour, Now: clk.Now,
		Accept: func(scope string, cs tls.ConnectionState, info SessionInfo) bool {
			seen = append(seen, info)
			return scope != "require-cert" || info.ClientCert
		},
	})
	withCert := tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	noCert, _ := tk.Wrap("require-cert", tls.ConnectionState{}, testState(t, 1))
	hasCert, _ := tk.Wrap("require-cert", withCert, testState(t, 1))
	if got, _ := tk.Unwrap("require-cert", noCert, tls.ConnectionState{}); got != nil {
		t.Error("session without client cert resumed where one is required")
	}
	if got, _ := tk.Unwrap("require-cert", hasCert, tls.ConnectionState{}); got == nil {
		t.Error("session with client cert refused")
	}
	if len(seen) != 2 || seen[0].ClientCert || !seen[1].ClientCert || !seen[1].Issued.Equal(epoch) {
		t.Errorf("Accept saw %+v", seen)
	}
	// Sessions older than Lifetime are refused even if the key still works.
	f.set(func(f *fakeTLSMgr) { f.keys[0].Expires = epoch.Add(3 * time.Hour) })
	tk2 := NewTickets(mustClient(t, f.path, fastOpts(nil)), TicketOptions{Lifetime: time.Hour, Now: clk.Now})
	tkt, _ := tk2.Wrap("s", tls.ConnectionState{}, testState(t, 1))
	clk.advance(time.Hour + time.Second)
	if got, _ := tk2.Unwrap("s", tkt, tls.ConnectionState{}); got != nil {
		t.Error("session older than Lifetime resumed")
	}
}

// TestInstallDisabled: Lifetime 0 (policy failed or cache timeout 0) turns
// tickets off like Postfix.
func TestInstallDisabled(t *testing.T) {
	cfg := &tls.Config{}
	NewTickets(nil, TicketOptions{}).Install(cfg, "s", nil)
	if !cfg.SessionTicketsDisabled || cfg.WrapSession != nil {
		t.Error("tickets not disabled")
	}
}

// TestResumptionOverTLS does real crypto/tls handshakes over loopback: the
// second connection goes to another "process" (own client, own Tickets).
func TestResumptionOverTLS(t *testing.T) {
	cert := selfSigned(t)
	for _, tc := range []struct {
		name       string
		version    uint16
		scopeB     string
		rotate     bool
		wantResume bool
	}{
		{"TLS1.3", tls.VersionTLS13, "ps", false, true},
		{"TLS1.2", tls.VersionTLS12, "ps", false, true},
		{"TLS1.3 other scope", tls.VersionTLS13, "other", false, false},
		{"TLS1.2 other scope", tls.VersionTLS12, "other", false, false},
		{"TLS1.3 key rotated out", tls.VersionTLS13, "ps", true, false},
		{"TLS1.2 key rotated out", tls.VersionTLS12, "ps", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, true)
			now := time.Now()
			expires := now.Add(30 * time.Minute)
			f.set(func(f *fakeTLSMgr) { f.keys = []*Key{testKey(1, expires)} })
			var lmu sync.Mutex
			var lines []string
			log := logs.Lines(func(line string) {
				lmu.Lock()
				defer lmu.Unlock()
				lines = append(lines, line)
			})
			logged := func() string {
				lmu.Lock()
				defer lmu.Unlock()
				l := strings.Join(lines, "\n")
				lines = nil
				return l
			}
			serverCfg := func(scope string) *tls.Config {
				cfg := &tls.Config{Certificates: []tls.Certificate{cert},
					MinVersion: tc.version, MaxVersion: tc.version}
				NewTickets(mustClient(t, f.path, fastOpts(nil)), TicketOptions{Lifetime: time.Hour}).Install(cfg, scope, log)
				return cfg
			}
			issuing := fmt.Sprintf("Issuing session ticket, key expiration: %d", expires.Unix())
			clientCfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
				ClientSessionCache: tls.NewLRUClientSessionCache(4),
				MinVersion:         tc.version, MaxVersion: tc.version}
			if handshake(t, serverCfg("ps"), clientCfg) {
				t.Fatal("first connection resumed")
			}
			if l := logged(); l != issuing {
				t.Errorf("first connection logged %q, want %q", l, issuing)
			}
			if tc.rotate {
				f.set(func(f *fakeTLSMgr) { f.keys = []*Key{testKey(2, now.Add(30*time.Minute))} })
			}
			if got := handshake(t, serverCfg(tc.scopeB), clientCfg); got != tc.wantResume {
				t.Errorf("resumed = %v, want %v", got, tc.wantResume)
			}
			// Resumed: the key's line, and no new ticket logged (as
			// Debian's tlsproxy); not resumed: a new ticket.
			decrypting := fmt.Sprintf("Decrypting session ticket, key expiration: %d", expires.Unix())
			l := logged()
			if tc.wantResume && l != decrypting {
				t.Errorf("resumption logged %q, want %q", l, decrypting)
			}
			if !tc.wantResume && !strings.HasSuffix(l, "Issuing session ticket, key expiration: "+strconv.FormatInt(expires.Unix(), 10)) {
				t.Errorf("full handshake logged %q, want a new ticket", l)
			}
		})
	}
}

// handshake runs one loopback TLS connection and reports DidResume as seen
// by the server. The server writes one byte so that the client reads the
// TLS 1.3 NewSessionTicket.
func handshake(t *testing.T, server, client *tls.Config) bool {
	t.Helper()
	ln := pftest.ListenTCP(t)
	defer ln.Close()
	type res struct {
		resumed bool
		err     error
	}
	done := pftest.AcceptOne(ln, func(c net.Conn) res {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			return res{err: err}
		}
		_, err := tc.Write([]byte{1})
		if err == nil {
			_, err = io.ReadFull(tc, make([]byte, 1))
		}
		return res{tc.ConnectionState().DidResume, err}
	}, func(err error) res { return res{err: err} })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, client)
	if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	clientResumed := tc.ConnectionState().DidResume
	if _, err := tc.Write([]byte{2}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resumed != clientResumed {
		t.Fatalf("server resumed %v, client %v", r.resumed, clientResumed)
	}
	return r.resumed
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	return pftest.ForgeSelf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}})
}
