package pfclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
)

const announcement = "protocol\x00tlsproxy_protocol\x00\x00"

// fakeProxy is a one-connection tlsproxy stand-in: it plays the server
// side of one conversation as script says and reports what it saw.
type fakeProxy struct {
	path string
	done chan error // result of the conversation, once
}

// script tells the fake server what to do.
type script struct {
	announce   []byte // written first (nil: nothing)
	firstNames []string
	second     attr.List // expected second list; nil: none
	status     int
	context    []byte // written after the fd, followed by "250 ok\r\n"
}

// startFake listens on a fresh socket and serves one connection.
func startFake(t *testing.T, s script) *fakeProxy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsproxy")
	ln := pftest.ListenUnix(t, path)
	fp := &fakeProxy{path: path, done: make(chan error, 1)}
	go func() {
		defer ln.Close()
		c, err := ln.AcceptUnix()
		if err != nil {
			fp.done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fp.done <- s.serve(c)
	}()
	t.Cleanup(func() { ln.Close() })
	return fp
}

func (s script) serve(c *net.UnixConn) error {
	if s.announce != nil {
		if _, err := c.Write(s.announce); err != nil {
			return err
		}
	}
	// Read exactly the request lists, never beyond, as tlsproxy must
	// before it receives the descriptor.
	rd := attr.NewReader(byteReader{c})
	first, err := rd.ReadList()
	if err != nil {
		return fmt.Errorf("first list: %w", err)
	}
	if err := first.Expect("client", s.firstNames...); err != nil {
		return fmt.Errorf("first list: %w", err)
	}
	if s.second != nil {
		second, err := rd.ReadList()
		if err != nil {
			return fmt.Errorf("second list: %w", err)
		}
		if plainLine(second) != plainLine(s.second) {
			return fmt.Errorf("second list %q, want %q", second, s.second)
		}
	}
	if _, err := c.Write(attr.AppendList(nil, attr.List{attr.Int("status", s.status)})); err != nil {
		return err
	}
	var flags int
	if v, _ := first.Get("flags"); v != "" {
		flags, _ = attr.ParseInt(v)
	}
	if s.status != 1 || flags&FlagProbe != 0 {
		// Wait for the client to close, as tlsproxy does.
		rest, err := io.ReadAll(c)
		if err != nil || len(rest) != 0 {
			return fmt.Errorf("after status %d: %q, %v", s.status, rest, err)
		}
		return nil
	}
	f, err := fdpass.Recv(c)
	if err != nil {
		return fmt.Errorf("receive fd: %w", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("ping")); err != nil { // reaches the remote end
		return fmt.Errorf("write on passed fd: %w", err)
	}
	if _, err := c.Write(append(bytes.Clone(s.context), "250 ok\r\n"...)); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "QUIT\r\n" {
		return fmt.Errorf("plaintext from client %q, %v", got, err)
	}
	return nil
}

// contextBytes is a well-formed context reply of n attributes.
func contextBytes(n int) []byte {
	var l attr.List
	for _, name := range pfversion.ContextNames(n) {
		v := ""
		if contextInts[name] {
			v = "0"
		}
		l = append(l, attr.Str(name, v))
	}
	return attr.AppendList(nil, l)
}

func firstNames(g pfversion.Generation) []string {
	switch g {
	case pfversion.G1:
		return []string{"remote_endpoint", "flags", "timeout"}
	case pfversion.G2:
		return []string{"remote_endpoint", "flags", "timeout", "server_id"}
	}
	return []string{"remote_endpoint", "flags", "timeout", "timeout", "serverid"}
}

// converse runs r against a fake server that answers status and checks
// the whole conversation from both ends.
func converse(t *testing.T, r Request, status int) {
	t.Helper()
	g := r.Version.Generation()
	s := script{firstNames: firstNames(g), status: status}
	if g.Announces() {
		s.announce = []byte(announcement)
	}
	if second, ok, err := r.Second(); err != nil {
		t.Fatal(err)
	} else if ok {
		s.second = second
	}
	if r.Flags&FlagContext != 0 {
		s.context = contextBytes(ContextLen(r))
	}
	fp := startFake(t, s)

	remote, pass, err := pftest.NewRemotePair()
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	defer pass.Close()

	c, got, err := Open(fp.path, r, pass)
	if err != nil {
		t.Fatalf("Open: %v (server: %v)", err, <-fp.done)
	}
	if got != status {
		t.Errorf("status %d, want %d", got, status)
	}
	if status == 1 && r.Flags&FlagProbe == 0 {
		pass.Close() // as postscreen does: tlsproxy holds the only copy now
		if r.Flags&FlagContext != 0 {
			l, err := c.Context(ContextLen(r))
			if err != nil || len(l) != ContextLen(r) {
				t.Errorf("Context: %d attributes, %v", len(l), err)
			}
		}
		line := make([]byte, len("250 ok\r\n"))
		if _, err := io.ReadFull(c, line); err != nil || string(line) != "250 ok\r\n" {
			t.Errorf("plaintext after the context: %q, %v", line, err)
		}
		if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
			t.Error(err)
		}
		remote.SetReadDeadline(time.Now().Add(10 * time.Second))
		ping := make([]byte, 4)
		if _, err := io.ReadFull(remote, ping); err != nil || string(ping) != "ping" {
			t.Errorf("remote end did not get the server's bytes: %q, %v", ping, err)
		}
	}
	c.Close()
	if err := <-fp.done; err != nil {
		t.Errorf("fake tlsproxy: %v", err)
	}
}

func TestConversations(t *testing.T) {
	for _, tc := range goldenCases() {
		for _, status := range []int{1, 0} {
			t.Run(fmt.Sprintf("%s/status%d", tc.name, status), func(t *testing.T) {
				converse(t, tc.req, status)
			})
		}
	}
	// smtpd test mode of older versions asks for 9/21/22/24-attribute contexts.
	for _, s := range []string{"2.8.0", "3.3.1", "3.3.2", "3.5.20", "3.7.11", "3.9.14"} {
		t.Run("smtpd-test-"+s, func(t *testing.T) {
			converse(t, SMTPDTest(pfversion.MustParse(s), "[192.0.2.10]:51234", ""), 1)
		})
	}
}

// serveRaw accepts one connection, writes out, shuts down its sending
// side (so a short reply ends in EOF, not a timeout; nil: writes nothing
// and keeps it open), then reads until EOF.
func serveRaw(t *testing.T, out []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsproxy")
	ln := pftest.ListenUnix(t, path)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		if out != nil {
			c.Write(out)
			c.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	}()
	return path
}

func TestAnnouncementHandling(t *testing.T) {
	g4 := pfversion.MustParse("3.7.11")
	g1 := pfversion.MustParse("2.8.0")

	// An old client against an announcing server reads "protocol" where
	// it expects "status" and gives up, as §1.3 describes.
	path := serveRaw(t, []byte(announcement))
	c, err := Dial(path, g1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ServerRole(g1, "[192.0.2.10]:51234")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Status()
	var se *attr.ScanError
	if !errors.As(err, &se) || se.Name != "protocol" || se.Expecting != "status" {
		t.Errorf("G1 client vs announcement: %v", err)
	}
	c.Close()

	// A new client times out without an announcement.
	path = serveRaw(t, nil)
	if _, err := dial(path, g4, 50*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("G4 client without announcement: %v", err)
	}

	// Wrong announcements.
	for _, bad := range []string{
		"protocol\x00tlsmgr_protocol\x00\x00",
		"status\x001\x00\x00",
		"protocol\x00tlsproxy_protocol\x00x\x00y\x00\x00",
		"protocol\x00tlsproxy",
	} {
		if _, err := dial(serveRaw(t, []byte(bad)), g4, time.Second); err == nil {
			t.Errorf("announcement %q accepted", bad)
		}
	}

	// The announcement is read exactly: the status right behind it is
	// still there for Status().
	path = serveRaw(t, []byte(announcement+"status\x001\x00\x00"))
	c, err = Dial(path, g4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Status(); n != 1 || err != nil {
		t.Errorf("status behind the announcement: %d, %v", n, err)
	}
	if err := c.Send(ServerRole(g1, "[192.0.2.10]:51234")); err == nil {
		t.Error("Send accepted a request of another version")
	}
}

func TestStatusStrict(t *testing.T) {
	v := pfversion.MustParse("3.4.0")
	for _, tc := range []struct {
		reply string
		want  int
		ok    bool
	}{
		{"status\x001\x00\x00", 1, true},
		{"status\x000\x00\x00", 0, true},
		{"status\x00x\x00\x00", 0, false},
		{"status\x001\x00extra\x00\x00\x00", 0, false},
		{"\x00", 0, false},
		{"stat", 0, false},
	} {
		c, err := Dial(serveRaw(t, []byte(tc.reply)), v)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Status()
		if (err == nil) != tc.ok || n != tc.want {
			t.Errorf("reply %q: %d, %v", tc.reply, n, err)
		}
		c.Close()
	}
}

func TestContextStrict(t *testing.T) {
	v := pfversion.MustParse("3.11.6")
	mangle := func(n int, from, to string) string {
		return strings.Replace(string(contextBytes(n)), from, to, 1)
	}
	for _, tc := range []struct {
		name  string
		reply string
		n     int
		ok    bool
	}{
		{"exact", string(contextBytes(25)), 25, true},
		{"22 for 25", string(contextBytes(22)), 25, false},
		{"26 for 25", string(contextBytes(26)), 25, false},
		{"renamed", mangle(25, "ctos_rpk", "ctos_rpx"), 25, false},
		{"bad int", mangle(25, "peer_status\x000", "peer_status\x00x"), 25, false},
		{"truncated", string(contextBytes(25)[:100]), 25, false},
		{"no such shape", string(contextBytes(22)), 23, false},
	} {
		c, err := Dial(serveRaw(t, []byte(announcement+tc.reply+"DATA")), v)
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.Context(tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %d attributes, %v", tc.name, len(l), err)
		}
		if tc.ok { // nothing after the list was consumed
			rest := make([]byte, 4)
			if _, err := io.ReadFull(c, rest); err != nil || string(rest) != "DATA" {
				t.Errorf("%s: after the context: %q, %v", tc.name, rest, err)
			}
		}
		c.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	v := pfversion.MustParse("3.7.11")
	if _, _, err := Open(filepath.Join(t.TempDir(), "none"), ServerRole(v, "[192.0.2.10]:51234"), nil); err == nil {
		t.Error("Open of a missing socket succeeded")
	}
	// Status 1 without a socket to pass is the caller's error.
	path := serveRaw(t, []byte(announcement+"status\x001\x00\x00"))
	if _, n, err := Open(path, ServerRole(v, "[192.0.2.10]:51234"), nil); err == nil || n != 1 {
		t.Errorf("Open without remote: %d, %v", n, err)
	}
}
