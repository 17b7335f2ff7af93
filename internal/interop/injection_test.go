package interop

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// STARTTLS command injection (CVE-2011-0411 style): a
// client pipelines a command after STARTTLS in the same write, before its
// ClientHello. Whatever postscreen does with it, the injected command must
// never be answered inside the TLS session; the same must hold for
// Debian's tlsproxy and ours. Only the server role exists: the client
// role (smtp(8) with connection reuse, where the remote server could
// inject before the handshake) is not implemented by our tlsproxy yet.

// injectionOutcome is what one injection attempt led to.
type injectionOutcome struct {
	port         int
	plainReplies []string // replies read in plaintext after the STARTTLS reply
	handshakeErr error
	firstInTLS   string // first reply line inside TLS, to our EHLO
}

func (o injectionOutcome) String() string {
	if o.handshakeErr != nil {
		return fmt.Sprintf("plaintext replies %q, handshake failed", o.plainReplies)
	}
	return fmt.Sprintf("plaintext replies %q, first reply inside TLS %q", o.plainReplies, o.firstInTLS)
}

// inject runs one attempt: EHLO, then STARTTLS and injected in one write,
// then a TLS handshake and EHLO inside TLS.
func inject(t *testing.T, in *instance, injected string) injectionOutcome {
	t.Helper()
	c := dialSMTP(t, in.addr())
	c.expect("", 220, "220 ")
	c.expect("EHLO client.test", 250, "250 ")
	if _, err := io.WriteString(c.raw, "STARTTLS\r\n"+injected); err != nil {
		t.Fatal(err)
	}
	out := injectionOutcome{port: c.port}
	if code, lines := c.reply(); code != 220 {
		t.Fatalf("STARTTLS answered %q", lines)
	}
	// Anything postscreen answers in plaintext to the injected command
	// arrives before our ClientHello gets an answer; read what is there.
	_ = c.raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			break
		}
		out.plainReplies = append(out.plainReplies, strings.TrimRight(line, "\r\n"))
	}
	_ = c.raw.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(bufConn{c.raw, io.MultiReader(c.r, c.raw)}, &tls.Config{RootCAs: certFilePool(t, in.cert), ServerName: "localhost"})
	if out.handshakeErr = tc.Handshake(); out.handshakeErr != nil {
		c.raw.Close()
		return out
	}
	if _, err := io.WriteString(tc, "EHLO client.test\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the EHLO reply inside TLS: %v", err)
	}
	out.firstInTLS = strings.TrimRight(line, "\r\n")
	c.raw.Close() // the remote goes away: tlsproxy ends the session
	return out
}

func TestSTARTTLSInjection(t *testing.T) {
	requireInterop(t)
	injections := []struct{ name, cmd, reply string }{
		{"RSET", "RSET\r\n", "250 2.0.0 Ok"},
		{"NOOP", "NOOP injected\r\n", "250 2.0.0 Ok"},
		{"MAIL FROM", "MAIL FROM:<injected@example.test>\r\n", "250 2.1.0"},
		{"STARTTLS again", "STARTTLS\r\nRSET\r\n", "220 2.0.0"},
	}
	results := map[string]map[string]injectionOutcome{}
	for _, im := range impls {
		results[im.name] = map[string]injectionOutcome{}
		in := instanceFor(t, im, false)
		for _, inj := range injections {
			t.Run(im.name+"/"+inj.name, func(t *testing.T) {
				offset := in.logSize(t)
				out := inject(t, in, inj.cmd)
				results[im.name][inj.name] = out
				t.Logf("%s", out)
				if out.handshakeErr == nil && !strings.HasPrefix(out.firstInTLS, "250-") && !strings.HasPrefix(out.firstInTLS, "250 ") {
					t.Errorf("first reply inside TLS is %q, not the EHLO reply", out.firstInTLS)
				}
				if out.handshakeErr == nil && strings.HasPrefix(out.firstInTLS, inj.reply) && !strings.Contains(out.firstInTLS, "-") {
					t.Errorf("the injected %s was answered inside TLS: %q", inj.name, out.firstInTLS)
				}
				seg := sessionLog(t, in, offset, out.port)
				t.Logf("tlsproxy lines:\n%s", tlsproxyLines(seg))
				// postscreen saw the injection (and discarded it).
				saw := fmt.Sprintf("COMMAND PIPELINING from [127.0.0.1]:%d after STARTTLS", out.port)
				if !strings.Contains(seg, saw) {
					t.Logf("postscreen did not log %q", saw)
				}
				for _, l := range strings.Split(tlsproxyLines(seg), "\n") {
					if strings.Contains(l, ": warning: ") || strings.Contains(l, ": fatal: ") || strings.Contains(l, ": panic: ") {
						t.Errorf("tlsproxy logged %q", l)
					}
				}
			})
		}
	}
	// Ours must end each attempt the way Debian's does.
	for _, inj := range injections {
		d, o := results["debian"][inj.name], results["ours"][inj.name]
		if (d.handshakeErr == nil) != (o.handshakeErr == nil) || fmt.Sprint(d.plainReplies) != fmt.Sprint(o.plainReplies) {
			t.Errorf("%s: Debian's tlsproxy: %s; ours: %s", inj.name, d, o)
		}
	}
}

// bufConn is the raw connection for a TLS client whose reads go through
// the bufio.Reader first (it may hold bytes already).
type bufConn struct {
	net.Conn
	r io.Reader
}

func (b bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }
