package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// session is what the server should have logged about one client.
type session struct {
	port   int    // the client's local port
	cipher string // TLS 1.3 cipher suite name, as OpenSSL and Go spell it
	kex    string // the key exchange logged ("" = X25519)
}

// logRule is one expectation about a session's slice of the maillog.
// {PORT} and {CIPHER} in re are replaced by the session's values.
type logRule struct {
	name string
	re   string
	want bool // must match (true) or must not match (false)
}

var (
	ruleConnect    = logRule{"CONNECT", `postfix/tlsproxy\[\d+\]: CONNECT from \[127\.0\.0\.1\]:{PORT}$`, true}
	ruleDisconnect = logRule{"DISCONNECT", `postfix/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:{PORT}$`, true}
	ruleNoFatal    = logRule{"no fatal or panic", `postfix/tlsproxy\[\d+\]: (fatal|panic):`, false}
)

// serverRoleRules hold for a completed STARTTLS session at
// smtpd_tls_loglevel = 1 (tlsproxy_tls_loglevel follows it).
var serverRoleRules = []logRule{
	ruleConnect,
	{"established", `postfix/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.1\]:{PORT}: TLSv1\.3 with cipher {CIPHER} \(\d+/\d+ bits\) key-exchange {KEX} server-signature RSA-PSS \(2048 bits\) server-digest SHA256$`, true},
	ruleDisconnect,
	{"no handshake failure", `TLS handshake failed`, false},
	{"no warning", `postfix/tlsproxy\[\d+\]: warning:`, false},
	ruleNoFatal,
}

// handshakeFailureRules hold when the client sends garbage instead of a
// ClientHello. (Both also log "warning: TLS library problem: ..." in
// OpenSSL's words; TestHandshakeFailureReasons compares those.)
var handshakeFailureRules = []logRule{
	ruleConnect,
	{"handshake failed", `postfix/tlsproxy\[\d+\]: TLS handshake failed for service=smtpd peer=\[127\.0\.0\.1\]:{PORT}$`, true},
	ruleDisconnect,
	{"not established", `TLS connection established from \[127\.0\.0\.1\]:{PORT}:`, false},
	ruleNoFatal,
}

// checkLog applies rules to the log segment of session s.
func checkLog(t *testing.T, seg string, s session, rules []logRule) {
	t.Helper()
	for _, r := range rules {
		expr := strings.ReplaceAll(r.re, "{PORT}", strconv.Itoa(s.port))
		expr = strings.ReplaceAll(expr, "{CIPHER}", regexp.QuoteMeta(s.cipher))
		expr = strings.ReplaceAll(expr, "{KEX}", kexOr(s.kex))
		re := regexp.MustCompile("(?m)" + expr)
		if got := re.MatchString(seg); got != r.want {
			t.Errorf("log rule %q: matched=%v, want %v for /%s/", r.name, got, r.want, expr)
		}
	}
	if t.Failed() {
		t.Logf("log segment of the session:\n%s", seg)
	} else {
		t.Logf("tlsproxy lines:\n%s", tlsproxyLines(seg))
	}
}

func tlsproxyLines(seg string) string {
	var b strings.Builder
	for line := range strings.Lines(seg) {
		if strings.Contains(line, "postfix/tlsproxy[") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// sessionLog waits until tlsproxy logged the end of the session on port
// and returns the log written since offset.
func sessionLog(t *testing.T, in *instance, offset int64, port int) string {
	t.Helper()
	end := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:%d$`, port))
	return in.waitLog(t, offset, end)
}

// goClientSession runs a full STARTTLS session with crypto/tls. during,
// if set, runs while the TLS session is up.
func goClientSession(t *testing.T, in *instance, during func(port int)) session {
	t.Helper()
	c := dialSMTP(t, in.addr())
	c.greetAndStartTLS()
	st := c.handshake(in.cert)
	if st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	if len(st.VerifiedChains) == 0 {
		t.Error("server certificate not verified")
	}
	if during != nil {
		during(c.port)
	}
	if offersSTARTTLS(c.expect("EHLO client.test", 250, "250 ")) {
		t.Error("EHLO reply over TLS still offers STARTTLS")
	}
	c.expect("STARTTLS", 554, "554 5.5.1")
	c.expect("QUIT", 221, "221 ")
	return session{port: c.port, cipher: tls.CipherSuiteName(st.CipherSuite), kex: kexOf(st)}
}

// opensslSession runs the dialogue with `openssl s_client -starttls smtp`,
// which must verify the certificate. Commands are written one at a time,
// each after the previous reply arrived.
func opensslSession(t *testing.T, in *instance) session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, port := sClientCommand(ctx, t, in, "-crlf", "-CAfile", in.cert, "-verify_return_error",
		"-verify_hostname", "localhost", "-nocommands", "-brief")
	stdin, pr := pftest.StartCombined(t, cmd) // -brief reports the handshake on stderr
	waited := false
	defer func() { // on t.Fatal: kill openssl, reap it
		if !waited {
			cancel()
			cmd.Wait()
		}
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var transcript []string
	// upTo collects output lines until one starts with prefix.
	upTo := func(prefix string) []string {
		t.Helper()
		var got []string
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("openssl output ended before %q:\n%s", prefix, strings.Join(transcript, "\n"))
				}
				transcript = append(transcript, line)
				got = append(got, line)
				if strings.HasPrefix(line, prefix) {
					return got
				}
			case <-ctx.Done():
				t.Fatalf("no %q from openssl:\n%s", prefix, strings.Join(transcript, "\n"))
			}
		}
	}
	var cipher string
	for _, l := range upTo("Verification: OK") {
		if v, ok := strings.CutPrefix(l, "Ciphersuite: "); ok {
			cipher = v
		}
		if v, ok := strings.CutPrefix(l, "Protocol version: "); ok && v != "TLSv1.3" {
			t.Errorf("openssl negotiated %s, want TLSv1.3", v)
		}
	}
	fmt.Fprintf(stdin, "EHLO openssl.test\n")
	if offersSTARTTLS(upTo("250 ")) {
		t.Error("EHLO reply over TLS still offers STARTTLS")
	}
	fmt.Fprintf(stdin, "QUIT\n")
	upTo("221 ")
	stdin.Close()
	for range lines { // drain until openssl exits
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("openssl s_client: %v\n%s", err, strings.Join(transcript, "\n"))
	}
	if cipher == "" {
		t.Fatalf("openssl printed no Ciphersuite:\n%s", strings.Join(transcript, "\n"))
	}
	return session{port: port, cipher: cipher}
}

// garbageSession sends bytes that are no TLS ClientHello after STARTTLS.
// The server must close the connection without sending any plaintext;
// a TLS alert record (content type 21) is all it may send.
func garbageSession(t *testing.T, in *instance) session {
	t.Helper()
	c := dialSMTP(t, in.addr())
	c.greetAndStartTLS()
	if _, err := io.WriteString(c.raw, "this is not a ClientHello\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c.raw)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open 60s after the garbage (got %q)", got)
	}
	if len(got) > 0 && got[0] != 21 {
		t.Errorf("server sent %q after the garbage, want nothing or a TLS alert", got)
	}
	t.Logf("after the garbage: read %d bytes, then %v", len(got), err)
	return session{port: c.port}
}

// serverClient is one kind of remote SMTP client of the server-role
// tests, with the log rules its session must meet.
type serverClient struct {
	name  string
	run   func(*testing.T, *instance) session
	rules []logRule
}

// serverClients are TestServerRole's clients (crypto/tls, openssl
// s_client, garbage instead of a ClientHello); the two that complete a
// handshake must meet established.
func serverClients(established []logRule) []serverClient {
	return []serverClient{
		{"go-client", func(t *testing.T, in *instance) session { return goClientSession(t, in, nil) }, established},
		{"openssl", opensslSession, established},
		{"garbage-hello", garbageSession, handshakeFailureRules},
	}
}

// runClients runs a session of each client against in, a subtest each,
// and checks its log; seen, when set, gets each session's log segment.
func runClients(t *testing.T, in *instance, clients []serverClient, seen func(client, seg string)) {
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			offset := in.logSize(t)
			s := cl.run(t, in)
			seg := sessionLog(t, in, offset, s.port)
			checkLog(t, seg, s, cl.rules)
			if seen != nil {
				seen(cl.name, seg)
			}
		})
	}
}

// TestServerRole runs the same sessions against Debian's tlsproxy and
// ours and applies the same log rules to both.
func TestServerRole(t *testing.T) {
	requireInterop(t)
	clients := serverClients(serverRoleRules)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			runClients(t, instanceFor(t, im, false), clients, nil)
		})
	}
}

// TestDaemonCredentials looks at the tlsproxy process serving a live
// session: it must run as user and group postfix, and with chroot=y in
// master.cf (argument -c) its root directory must be the queue directory.
func TestDaemonCredentials(t *testing.T) {
	requireInterop(t)
	uid, gid := postfixIDs(t)
	for _, im := range impls {
		for _, chroot := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chroot=%v", im.name, chroot), func(t *testing.T) {
				t.Parallel()
				in := instanceFor(t, im, chroot)
				wantRoot := "/"
				if chroot {
					wantRoot = in.queueDir
				}
				offset := in.logSize(t)
				s := goClientSession(t, in, func(port int) {
					checkProcess(t, servingPID(t, in, offset, port), uid, gid, wantRoot)
				})
				checkLog(t, sessionLog(t, in, offset, s.port), s, serverRoleRules)
			})
		}
	}
}

// postfixIDs returns the numeric user and group IDs of user and group
// postfix.
func postfixIDs(t *testing.T) (uid, gid string) {
	t.Helper()
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := user.LookupGroup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	return pu.Uid, pg.Gid
}

// servingPID waits for the CONNECT line, logged after offset, of the
// session from port and returns the PID of the tlsproxy that logged it.
func servingPID(t *testing.T, in *instance, offset int64, port int) string {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[(\d+)\]: CONNECT from \[127\.0\.0\.1\]:%d$`, port))
	return re.FindStringSubmatch(in.waitLog(t, offset, re))[1]
}

// checkProcess compares /proc/PID with the expected credentials.
func checkProcess(t *testing.T, pid, uid, gid, root string) {
	t.Helper()
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("tlsproxy process %s: %v", pid, err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(string(status)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for _, c := range []struct{ field, want string }{
		{"Uid", strings.Repeat(uid+" ", 3) + uid}, // real, effective, saved, fs
		{"Gid", strings.Repeat(gid+" ", 3) + gid},
		{"Groups", gid},
	} {
		if fields[c.field] != c.want {
			t.Errorf("tlsproxy pid %s: %s: %q, want %q", pid, c.field, fields[c.field], c.want)
		}
	}
	gotRoot, err := os.Readlink("/proc/" + pid + "/root")
	if err != nil {
		t.Fatal(err)
	}
	if gotRoot != root {
		t.Errorf("tlsproxy pid %s: root directory %q, want %q", pid, gotRoot, root)
	}
}
