package pftest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/fdpass"
)

func TestRequest(t *testing.T) {
	cases := []struct {
		name     string
		endpoint string
		flags    int
		hs, sess int
		serverid string
		want     string
	}{
		// A postscreen 3.7 request (82 bytes; docs/protocol.md, "Attribute lists").
		{"postscreen", "[127.0.0.1]:38510", 1, 300, 300, "smtpd",
			"remote_endpoint\x00[127.0.0.1]:38510\x00flags\x001\x00timeout\x00300\x00timeout\x00300\x00serverid\x00smtpd\x00\x00"},
		// §3.1: smtp(8) client role, CLIENT|SEND_CONTEXT, 300/600.
		{"smtp", "[192.0.2.25]:25", 6, 300, 600, "smtp",
			"remote_endpoint\x00[192.0.2.25]:25\x00flags\x006\x00timeout\x00300\x00timeout\x00600\x00serverid\x00smtp\x00\x00"},
		// Negative C ints go out as unsigned 32-bit decimal.
		{"negative", "", -1, 0, -2, "",
			"remote_endpoint\x00\x00flags\x004294967295\x00timeout\x000\x00timeout\x004294967294\x00serverid\x00\x00\x00"},
	}
	for _, tc := range cases {
		got := Request(tc.endpoint, tc.flags, tc.hs, tc.sess, tc.serverid)
		if string(got) != tc.want {
			t.Errorf("%s: Request = %q, want %q", tc.name, got, tc.want)
		}
	}
	if n := len(Request("[127.0.0.1]:38510", 1, 300, 300, "smtpd")); n != 82 {
		t.Errorf("postscreen request is %d bytes, want 82", n)
	}
	a, b := UnixPair(t)
	if err := SendRequest(a, "[127.0.0.1]:38510", 1, 300, 300, "smtpd"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 82)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != cases[0].want {
		t.Errorf("SendRequest wrote %q, %v", got, err)
	}
}

// TestReadLists covers ReadAnnouncement and ReadStatus. Each input is
// followed by a marker byte that the reader must leave unread.
func TestReadLists(t *testing.T) {
	ann := func(c *net.UnixConn) (int, error) { return 0, ReadAnnouncement(c) }
	cases := []struct {
		name    string
		read    func(*net.UnixConn) (int, error)
		in      string
		want    int
		wantErr string
		eof     bool // close the writer after in (no marker)
	}{
		{"announcement", ann, "protocol\x00tlsproxy_protocol\x00\x00", 0, "", false},
		{"announcement wrong value", ann, "protocol\x00tlsmgr_protocol\x00\x00", 0, "unexpected protocol announcement", false},
		{"announcement extra attr", ann, "protocol\x00tlsproxy_protocol\x00x\x00y\x00\x00", 0, "unexpected", false},
		{"announcement empty list", ann, "\x00", 0, "unexpected", false},
		{"announcement is a status", ann, "status\x001\x00\x00", 0, "unexpected", false},
		{"announcement EOF", ann, "protocol\x00tls", 0, "EOF", true},
		{"status 1", ReadStatus, "status\x001\x00\x00", 1, "", false},
		{"status 0", ReadStatus, "status\x000\x00\x00", 0, "", false},
		{"status -1", ReadStatus, "status\x004294967295\x00\x00", -1, "", false},
		{"status empty value", ReadStatus, "status\x00\x00\x00", 0, "malformed status value", false},
		{"status junk", ReadStatus, "status\x001x\x00\x00", 0, "malformed status value", false},
		{"status wrong name", ReadStatus, "protocol\x00tlsproxy_protocol\x00\x00", 0, "unexpected status reply", false},
		{"status two attrs", ReadStatus, "status\x001\x00status\x001\x00\x00", 0, "unexpected status reply", false},
		{"status EOF", ReadStatus, "", 0, "EOF", true},
		{"too long", ReadStatus, strings.Repeat("x", maxList+1), 0, "attribute list too long", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := UnixPair(t)
			go func() {
				a.Write([]byte(tc.in))
				if tc.eof {
					a.Close()
				} else {
					a.Write([]byte("M"))
				}
			}()
			got, err := tc.read(b)
			if !WantErr(t, err, tc.wantErr) {
				return
			}
			if got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			var m [1]byte
			if _, err := io.ReadFull(b, m[:]); err != nil || m[0] != 'M' {
				t.Fatalf("byte after the list = %q, %v; want marker", m, err)
			}
		})
	}
}

func TestDialAndPassFD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsproxy")
	ln := ListenUnix(t, path)
	if _, err := DialTLSProxy(path + ".missing"); err == nil {
		t.Error("DialTLSProxy to a missing socket succeeded")
	}
	c, err := DialTLSProxy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	s, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := PassFD(c, w); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := fdpass.Recv(s)
	if err != nil {
		t.Fatal(err)
	}
	got.Write([]byte("via fd"))
	got.Close()
	w.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "via fd" {
		t.Fatalf("pipe content %q, %v", b, err)
	}
}

// fakeDaemon checks the descriptor types, reports GENERATION on stderr,
// writes one status record {1, 2, 1}, waits for EOF on fd 5, exits 7.
const fakeDaemon = `[ -p /dev/fd/3 ] && [ -p /dev/fd/4 ] && [ -S /dev/fd/5 ] && [ -S /dev/fd/6 ] || exit 9
echo "gen=$GENERATION" >&2
printf '\001\000\000\000\002\000\000\000\001\000\000\000' >&5
cat <&5 >/dev/null
exit 7`

func TestFakeMaster(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fake daemon writes a little-endian record")
	}
	cases := []struct {
		name    string
		env     []string
		wantGen string
	}{
		{"default generation", []string{"PATH=/usr/bin:/bin"}, "gen=1\n"},
		{"given generation", []string{"PATH=/usr/bin:/bin", "GENERATION=14"}, "gen=14\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := StartFakeMaster(t, "/bin/sh", []string{"-c", fakeDaemon}, tc.env, ListenUnix(t, ""))
			pid, gen, avail, err := m.Status()
			if err != nil || pid != 1 || gen != 2 || avail != 1 {
				t.Fatalf("Status = %d %d %d %v; stderr %q", pid, gen, avail, err, m.Stderr())
			}
			if err := m.CloseStatus(); err != nil {
				t.Fatal(err)
			}
			if code, err := m.Wait(); code != 7 || err != nil {
				t.Fatalf("Wait = %d, %v; want 7; stderr %q", code, err, m.Stderr())
			}
			if got := m.Stderr(); got != tc.wantGen {
				t.Errorf("stderr %q, want %q", got, tc.wantGen)
			}
		})
	}
}

func TestFakeMasterTimeouts(t *testing.T) {
	m := StartFakeMaster(t, "/bin/sh", []string{"-c", "cat <&5"}, nil, ListenUnix(t, ""))
	m.Timeout = 50 * time.Millisecond
	if _, _, _, err := m.Status(); err == nil {
		t.Error("Status returned a record that was never written")
	}
	if _, err := m.Wait(); err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Errorf("Wait = %v, want a timeout", err)
	}
	// t.Cleanup kills and reaps the process.
}

func TestFakeMasterSignal(t *testing.T) {
	m := StartFakeMaster(t, "/bin/sh", []string{"-c", "kill -KILL $$"}, nil, ListenUnix(t, ""))
	if code, err := m.Wait(); code != -1 || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait = %d, %v; want -1 and a signal error", code, err)
	}
	if m.Stderr() != "" {
		t.Errorf("stderr %q", m.Stderr())
	}
}

// TestUnixPair: bytes written on one end arrive on the other, both ways.
func TestUnixPair(t *testing.T) {
	a, b := UnixPair(t)
	for _, c := range [][2]*net.UnixConn{{a, b}, {b, a}} {
		if _, err := c[0].Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		c[1].SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, 4)
		if _, err := io.ReadFull(c[1], got); err != nil || string(got) != "ping" {
			t.Fatalf("read %q, %v; want ping", got, err)
		}
	}
}

// failTB records the failures reported through it; Fatalf ends the
// calling goroutine as testing.T's does.
type failTB struct {
	testing.TB
	msgs []string
}

func (f *failTB) Helper() {}
func (f *failTB) Errorf(format string, a ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, a...))
}
func (f *failTB) Fatalf(format string, a ...any) {
	f.Errorf(format, a...)
	runtime.Goexit()
}

// TestGolden: -update writes the file, an equal text passes, and a
// different or missing one fails naming what differs.
func TestGolden(t *testing.T) {
	t.Chdir(t.TempDir())
	run := func(name, got string, update bool) []string {
		f := &failTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Golden(f, name, got, update)
		}()
		<-done
		return f.msgs
	}
	if msgs := run("g.golden", "a\nb\n", true); len(msgs) != 0 {
		t.Fatalf("update: %q", msgs)
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "g.golden")); err != nil || string(data) != "a\nb\n" {
		t.Fatalf("written %q, %v", data, err)
	}
	cases := []struct {
		name, file, got, want string // want: a part of the one failure, "" none
	}{
		{"equal", "g.golden", "a\nb\n", ""},
		{"line differs", "g.golden", "a\nc\n", "line 2"},
		{"longer", "g.golden", "a\nb\nc\n", "line 3"},
		{"shorter", "g.golden", "a\nb", "got 2 lines, want 3"},
		{"missing file", "none.golden", "a\n", "-update to create"},
	}
	for _, tc := range cases {
		msgs := run(tc.file, tc.got, false)
		switch {
		case tc.want == "" && len(msgs) != 0:
			t.Errorf("%s: failed: %q", tc.name, msgs)
		case tc.want != "" && (len(msgs) != 1 || !strings.Contains(msgs[0], tc.want)):
			t.Errorf("%s: failures %q, want one with %q", tc.name, msgs, tc.want)
		}
	}
}

func TestRemotePair(t *testing.T) {
	client, server, err := NewRemotePair()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	if _, err := server.Write([]byte("220 x\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "220 x\r\n" {
		t.Errorf("%q, %v", buf, err)
	}
}

func TestForgeChain(t *testing.T) {
	certs, keys := ForgeChain(t, 3, KeyECDSA256, func(i int) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "Same CA"}, BasicConstraintsValid: true, IsCA: i > 0}
	})
	if len(certs) != 4 || len(keys) != 4 {
		t.Fatalf("%d certificates, %d keys", len(certs), len(keys))
	}
	for i, c := range certs {
		if c.SerialNumber.Int64() != int64(i+1) {
			t.Errorf("certs[%d] serial %v", i, c.SerialNumber)
		}
		parent := c
		if i < len(certs)-1 {
			parent = certs[i+1]
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			t.Errorf("certs[%d] not signed by its issuer: %v", i, err)
		}
	}
	self := ForgeSelf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}})
	if err := self.Leaf.CheckSignature(self.Leaf.SignatureAlgorithm, self.Leaf.RawTBSCertificate, self.Leaf.Signature); err != nil {
		t.Errorf("self-signed certificate: %v", err)
	}
	if time.Until(self.Leaf.NotAfter) <= 0 || time.Since(self.Leaf.NotBefore) <= 0 {
		t.Errorf("validity %v … %v does not hold now", self.Leaf.NotBefore, self.Leaf.NotAfter)
	}
}

func TestClientHello(t *testing.T) {
	rec := ClientHello(t)
	if len(rec) < 9 || rec[0] != 22 || int(rec[3])<<8|int(rec[4]) != len(rec)-5 || rec[5] != 1 {
		t.Errorf("not one handshake record holding a ClientHello: % x", rec[:min(len(rec), 9)])
	}
}

func TestAcceptOne(t *testing.T) {
	ln := ListenTCP(t)
	got := AcceptOne(ln, func(c net.Conn) string {
		b := make([]byte, 2)
		_, err := io.ReadFull(c, b)
		return fmt.Sprint(string(b), err)
	}, func(err error) string { return "accept: " + err.Error() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	if s := <-got; s != "hi<nil>" {
		t.Errorf("served %q", s)
	}
	ln.Close()
	if s := <-AcceptOne(ln, func(net.Conn) string { return "served" }, func(error) string { return "failed" }); s != "failed" {
		t.Errorf("on a closed listener: %q", s)
	}
}

func TestWantErr(t *testing.T) {
	for _, tc := range []struct {
		err        error
		want       string
		goOn, fail bool
	}{
		{nil, "", true, false},
		{errors.New("bad thing"), "bad", false, false},
		{errors.New("bad thing"), "", false, true},
		{nil, "bad", false, true},
		{errors.New("other"), "bad", false, true},
	} {
		f := &failTB{TB: t}
		var goOn bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			goOn = WantErr(f, tc.err, tc.want)
		}()
		<-done
		if failed := len(f.msgs) > 0; failed != tc.fail || (!failed && goOn != tc.goOn) {
			t.Errorf("WantErr(%v, %q): failures %q, goes on %v", tc.err, tc.want, f.msgs, goOn)
		}
	}
}

func TestServeEach(t *testing.T) {
	ln := ListenTCP(t)
	var served atomic.Int32
	stop := ServeEach(t, ln, func(c net.Conn) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err == nil {
			c.Write(b)
			served.Add(1)
		}
	})
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b := []byte{byte('a' + i)}
		c.Write(b)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != byte('a'+i) {
			t.Errorf("connection %d: echo %q, %v", i, b, err)
		}
		c.Close()
	}
	stop()
	if n := served.Load(); n != 3 {
		t.Errorf("served %d connections, want 3", n)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts after stop")
	}
}
