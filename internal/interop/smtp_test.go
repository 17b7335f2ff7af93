package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// smtpClient speaks just enough SMTP to reach postscreen's STARTTLS. Every
// read and write is bounded by one deadline for the whole session.
type smtpClient struct {
	t    *testing.T
	raw  net.Conn
	conn net.Conn // raw, or the TLS connection after STARTTLS
	r    *bufio.Reader
	port int // our local port: how the server logs us
}

func dialSMTP(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second) // IPv4 or IPv6 by the literal address
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &smtpClient{t: t, raw: c, conn: c, r: bufio.NewReader(c), port: c.LocalAddr().(*net.TCPAddr).Port}
}

// reply reads one (possibly multi-line) reply: "ddd-text" lines up to a
// "ddd text" line. postscreen's banner is such a reply: it sends "220-"
// at once and the final "220 " line only after postscreen_greet_wait.
func (c *smtpClient) reply() (int, []string) {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			c.t.Fatalf("malformed reply line %q", line)
		}
		if line[3] == ' ' {
			code, err := strconv.Atoi(line[:3])
			if err != nil {
				c.t.Fatalf("malformed reply code in %q", line)
			}
			return code, lines
		}
	}
}

// cmd sends one command line and reads the reply. Commands go one at a
// time: postscreen's pipelining test would flag anything else.
func (c *smtpClient) cmd(line string) (int, []string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
	return c.reply()
}

// expect sends line (none for "") and checks the reply code and that the
// last line starts with prefix; it returns all reply lines.
func (c *smtpClient) expect(line string, code int, prefix string) []string {
	c.t.Helper()
	var got int
	var lines []string
	if line == "" {
		got, lines = c.reply()
	} else {
		got, lines = c.cmd(line)
	}
	if got != code || !strings.HasPrefix(lines[len(lines)-1], prefix) {
		c.t.Fatalf("%q: got reply %q, want %d %q...", line, lines, code, prefix)
	}
	return lines
}

// greetAndStartTLS reads the banner, sends EHLO, checks that STARTTLS is
// offered and sends it, leaving the connection ready for a TLS handshake.
func (c *smtpClient) greetAndStartTLS() {
	c.t.Helper()
	c.expect("", 220, "220 ")
	if !offersSTARTTLS(c.expect("EHLO client.test", 250, "250 ")) {
		c.t.Fatal("EHLO reply before TLS does not offer STARTTLS")
	}
	c.expect("STARTTLS", 220, "220 2.0.0")
	if n := c.r.Buffered(); n != 0 {
		c.t.Fatalf("%d unexpected plaintext bytes after the STARTTLS reply", n)
	}
}

// certFilePool is the pool of the PEM certificates in the file path.
func certFilePool(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	pemData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pftest.CertPool(t, pemData)
}

// handshake runs a TLS handshake that must verify the instance's
// certificate for "localhost", and switches the client to TLS.
func (c *smtpClient) handshake(certFile string) tls.ConnectionState {
	c.t.Helper()
	tc := tls.Client(c.raw, &tls.Config{RootCAs: certFilePool(c.t, certFile), ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake through postscreen: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return tc.ConnectionState()
}

func offersSTARTTLS(ehlo []string) bool {
	for _, l := range ehlo {
		if len(l) > 4 && strings.EqualFold(strings.TrimSpace(l[4:]), "STARTTLS") {
			return true
		}
	}
	return false
}

// sClient runs one STARTTLS session through in's postscreen with openssl
// s_client from a port of its own, with stdin as its input and the given
// options (-ign_eof is always set, so that openssl waits for the server's
// end); it returns openssl's output and the port.
func sClient(t *testing.T, in *instance, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, port := sClientCommand(ctx, t, in, append([]string{"-ign_eof"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out), port
}

// sClientCommand is `openssl s_client -starttls smtp` with args, to in's
// postscreen from a free port of its own, which it returns.
func sClientCommand(ctx context.Context, t *testing.T, in *instance, args ...string) (*exec.Cmd, int) {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"s_client", "-starttls", "smtp", "-connect", in.addr(),
		"-bind", fmt.Sprintf("127.0.0.1:%d", ports[0])}, args...)
	return exec.CommandContext(ctx, "openssl", all...), ports[0]
}
