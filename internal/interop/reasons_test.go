package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawBytes sends b instead of a ClientHello and reads until the server
// closes the connection.
func rawBytes(b string) caseRun {
	return func(t *testing.T, c *smtpClient, _ *instance) {
		if _, err := io.WriteString(c.raw, b); err != nil {
			t.Fatal(err)
		}
		readToEnd(t, c.raw)
	}
}

func readToEnd(t *testing.T, r io.Reader) {
	t.Helper()
	if _, err := io.Copy(io.Discard, r); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open 60s after the failed handshake")
	}
}

// goHandshake runs a crypto/tls client handshake that must fail, with
// cfg (ServerName "localhost" is set) over conn wrapped by wrap if set.
func goHandshake(cfg *tls.Config, wrap func(net.Conn) net.Conn) caseRun {
	return func(t *testing.T, c *smtpClient, _ *instance) {
		cfg := cfg.Clone()
		cfg.ServerName = "localhost"
		var conn net.Conn = c.raw
		if wrap != nil {
			conn = wrap(conn)
		}
		tc := tls.Client(conn, cfg)
		err := tc.Handshake()
		if err == nil && tc.ConnectionState().Version != tls.VersionTLS13 {
			t.Errorf("handshake succeeded with %s", tls.VersionName(tc.ConnectionState().Version))
			return
		}
		if err == nil {
			// TLS 1.3: the client is done before the server read its
			// Finished; the failure shows on the next read.
			_, err = tc.Read(make([]byte, 1))
		}
		t.Logf("client: %v", err)
		readToEnd(t, c.raw)
	}
}

// recordEditor passes each record the client writes, whole, through
// edit (i counts them from 0) until edit reports it is done; later
// writes pass as they are.
type recordEditor struct {
	net.Conn
	edit func(i int, rec []byte) (done bool)
	buf  []byte // bytes of a record not yet complete
	n    int
	done bool
}

func (c *recordEditor) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	var out []byte
	for len(c.buf) >= 5 && !c.done {
		n := 5 + (int(c.buf[3])<<8 | int(c.buf[4]))
		if len(c.buf) < n {
			break
		}
		rec := append([]byte(nil), c.buf[:n]...)
		c.buf = c.buf[n:]
		c.done = c.edit(c.n, rec)
		c.n++
		out = append(out, rec...)
	}
	if c.done {
		out = append(out, c.buf...)
		c.buf = nil
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// corrupt flips a bit in the last byte of the first record the client
// sends after its ChangeCipherSpec: the server's record decryption (MAC
// or AEAD tag) must fail.
func corrupt(c net.Conn) net.Conn {
	seenCCS := false
	return &recordEditor{Conn: c, edit: func(_ int, rec []byte) bool {
		if rec[0] == 20 {
			seenCCS = true
			return false
		}
		if seenCCS {
			rec[len(rec)-1] ^= 1
		}
		return seenCCS
	}}
}

// recordVersion rewrites the version field of the second record the
// client sends (the first after its ClientHello) to vers.
func recordVersion(vers uint16) func(net.Conn) net.Conn {
	return func(c net.Conn) net.Conn {
		return &recordEditor{Conn: c, edit: func(i int, rec []byte) bool {
			if i == 1 {
				rec[1], rec[2] = byte(vers>>8), byte(vers)
			}
			return i == 1
		}}
	}
}

// handshakeCases are remote clients whose handshake fails after STARTTLS
// in postscreen, each with the OpenSSL reason Debian's tlsproxy logs for
// it (its last "TLS library problem" entry).
var handshakeCases = []struct {
	name   string
	reason string
	run    caseRun
}{
	{"TLS 1.0 only", "unsupported protocol", goHandshake(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, nil)},
	{"TLS 1.1 only", "unsupported protocol", goHandshake(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, nil)},
	{"SSLv2 hello", "unsupported protocol", rawBytes(sslv2Hello())},
	{"RC4 only", "no shared cipher", goHandshake(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}}, nil)},
	{"client rejects certificate", "sslv3 alert bad certificate", goHandshake(&tls.Config{}, nil)},
	{"bad record MAC TLS 1.2", "decryption failed or bad record mac", goHandshake(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, corrupt)},
	{"bad record MAC TLS 1.3", "decryption failed or bad record mac", goHandshake(&tls.Config{InsecureSkipVerify: true}, corrupt)},
	{"HTTP GET", "http request", rawBytes("GET / HTTP/1.0\r\n\r\n")},
	{"HTTP POST", "http request", rawBytes("POST / HTTP/1.0\r\n\r\n")},
	{"proxy CONNECT", "https proxy request", rawBytes("CONNECT example:443 HTTP/1.0\r\n\r\n")},
	{"text", "wrong version number", rawBytes("this is not a ClientHello\r\n")},
	{"Finished first", "unexpected message", rawBytes("\x16\x03\x01\x00\x10\x14\x00\x00\x0c0123456789ab")},
	{"application data first", "unexpected message", rawBytes("\x17\x03\x03\x00\x05hello")},
	{"ChangeCipherSpec first", "unexpected message", rawBytes("\x14\x03\x03\x00\x01\x01")},
	{"alert first", "unexpected message", rawBytes("\x15\x03\x03\x00\x02\x02\x28")},
	{"short ClientHello", "length mismatch", rawBytes("\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00")},
	{"oversized record", "packet length too long", rawBytes("\x16\x03\x01\xff\xff")},
	// A record after the ClientHello whose version is not the
	// negotiated one (TLS 1.2), or not 0x0303 (TLS 1.3).
	{"record version TLS 1.2", "wrong version number", goHandshake(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, recordVersion(0x0301))},
	{"record version TLS 1.3", "wrong version number", goHandshake(&tls.Config{InsecureSkipVerify: true}, recordVersion(0x0301))},
	// OpenSSL clients that fail their own verification of the server
	// certificate ("certificate verify failed" on their side) send an
	// alert: this is how tlsproxy sees that failure. (tlsproxy itself
	// never fails a handshake on verification, in either role: Postfix's
	// verification callback lets the handshake go on and reports the
	// peer as Untrusted; TestClientCertificates and TestClientRoleLevels
	// show both tlsproxies doing so without a library problem.)
	{"OpenSSL client: unknown CA", "tlsv1 alert unknown ca", opensslRejects("-verify_return_error", "-no-CAfile", "-no-CApath", "-no-CAstore")},
	{"OpenSSL client: certificate expired", "sslv3 alert certificate expired", opensslRejects("-verify_return_error", "-CAfile", "{CERT}", "-attime", "4102444800")},
}

// openSSL35Words turns the reasons of the table (OpenSSL 3.0's words,
// Debian 12) into those Debian 13's OpenSSL 3.5 logs.
var openSSL35Words = strings.NewReplacer("sslv3 alert ", "ssl/tls alert ", "packet length too long", "data length too long")

// caseRun drives the remote client of one failing handshake after
// STARTTLS, on the connection c to instance in.
type caseRun func(t *testing.T, c *smtpClient, in *instance)

// opensslRejects runs `openssl s_client` with args ({CERT} = the
// instance's certificate) as the remote client: a loopback relay joins
// it to c, whose STARTTLS is done.
func opensslRejects(args ...string) caseRun {
	return func(t *testing.T, c *smtpClient, in *instance) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		argv := []string{"s_client", "-connect", ln.Addr().String(), "-servername", "localhost"}
		for _, a := range args {
			argv = append(argv, strings.ReplaceAll(a, "{CERT}", in.cert))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "openssl", argv...)
		cmd.Stdin = strings.NewReader("")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		r, err := ln.Accept()
		if err != nil {
			t.Fatalf("openssl s_client did not connect: %v\n%s", err, out.String())
		}
		defer r.Close()
		go func() {
			io.Copy(c.raw, r)
			c.raw.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(r, c.raw)
		r.Close()
		if err := cmd.Wait(); err == nil {
			t.Errorf("openssl s_client %s succeeded:\n%s", strings.Join(argv, " "), out.String())
		}
		if m := regexp.MustCompile(`(?m)^.*(verify error|alert).*$`).FindString(out.String()); m != "" {
			t.Logf("client: %s", m)
		}
	}
}

// libraryProblemRE splits a "TLS library problem" warning as Postfix
// prints an OpenSSL error entry: code, library and reason; the source
// location (file and line); optional data.
var libraryProblemRE = regexp.MustCompile(`^warning: TLS library problem: (error:[0-9A-F]{8}:[A-Za-z ]+::[^:]+):([^:]+:\d+):(?:(.+):)?$`)

var tlsproxyLineRE = regexp.MustCompile(`(?m)postfix/tlsproxy\[\d+\]: (warning: .*|TLS handshake failed.*)$`)

// failure is what tlsproxy logged about one failed handshake.
type failure struct {
	problems  []string // "error:CODE:LIB::REASON[ DATA]" per entry
	locations []string // "FILE:LINE" per entry
	failed    bool     // "TLS handshake failed for service=smtpd peer=..."
}

// TestHandshakeFailureReasons runs each failing handshake through real
// postscreen against Debian's tlsproxy and ours, and requires the same
// "TLS library problem" entries (code, library, reason words, data) and
// the handshake failure line. pflogsumm's reports over both logs of these
// sessions must then be equal.
func TestHandshakeFailureReasons(t *testing.T) {
	requireInterop(t)
	compareReasons(t, impls)
}

// TestHandshakeFailureReasonsDeb13 is TestHandshakeFailureReasons under
// Debian 13's Postfix, against its C tlsproxy (OpenSSL 3.5).
func TestHandshakeFailureReasonsDeb13(t *testing.T) {
	requireDeb13(t)
	compareReasons(t, deb13Impls)
}

// compareReasons runs the handshake cases against both of ims (the C
// tlsproxy first) and compares what they log.
func compareReasons(t *testing.T, ims []impl) {
	results := map[string][]failure{}
	logs := map[string]string{}
	for _, im := range ims {
		results[im.name], logs[im.name] = runFailures(t, im)
	}
	ref, our := ims[0].name, ims[1].name
	for i, hc := range handshakeCases {
		c, ours := results[ref][i], results[our][i]
		want := hc.reason
		if ims[0].root() != "" {
			want = openSSL35Words.Replace(want)
		}
		if !slices.ContainsFunc(c.problems, func(p string) bool { return strings.Contains(p+" ", "::"+want+" ") }) {
			t.Errorf("%s: %s's tlsproxy logged %q, want reason %q", hc.name, ref, c.problems, want)
		}
		if !c.failed || !ours.failed {
			t.Errorf("%s: TLS handshake failed line: %s %v, ours %v", hc.name, ref, c.failed, ours.failed)
		}
		if !slices.Equal(c.problems, ours.problems) {
			t.Errorf("%s:\n %s %q\n ours   %q", hc.name, ref, c.problems, ours.problems)
		} else {
			t.Logf("%s: %q at %q (%s: %q)", hc.name, ours.problems, ours.locations, ref, c.locations)
		}
	}
	comparePflogsumm(t, logs[ref], logs[our])
	compareLineForms(t, "handshake failures", logs[ref], logs[our], true)
}

// runFailures runs every handshake case, then one good session, against
// an instance of im of its own (TLS 1.2 and 1.3 only, as Debian's
// OpenSSL configuration has it) and returns what tlsproxy logged per case
// and the whole log of these sessions.
func runFailures(t *testing.T, im impl) ([]failure, string) {
	bin := im.binary(t)
	in := onceFor(t, "reasons/"+im.name, func() (*instance, error) {
		in, _, err := startIn(im.root(), bin, "--chroot", "n", "--main", "smtpd_tls_protocols = >=TLSv1.2")
		return in, err
	})
	first := in.logSize(t)
	var out []failure
	for _, hc := range handshakeCases {
		offset := in.logSize(t)
		c := dialSMTP(t, in.addr())
		c.greetAndStartTLS()
		hc.run(t, c, in)
		seg := sessionLog(t, in, offset, c.port)
		var f failure
		for _, m := range tlsproxyLineRE.FindAllStringSubmatch(seg, -1) {
			line := m[1]
			if line == fmt.Sprintf("TLS handshake failed for service=smtpd peer=[127.0.0.1]:%d", c.port) {
				f.failed = true
				continue
			}
			p := libraryProblemRE.FindStringSubmatch(line)
			if p == nil {
				t.Errorf("%s %s: line not in OpenSSL's form: %q", im.name, hc.name, line)
				continue
			}
			f.problems = append(f.problems, strings.TrimSpace(p[1]+" "+p[3]))
			f.locations = append(f.locations, p[2])
		}
		out = append(out, f)
	}
	// One session that succeeds, for the report's other lines; the log
	// ends with postscreen's DISCONNECT of it.
	offset := in.logSize(t)
	s := goClientSession(t, in, nil)
	sessionLog(t, in, offset, s.port)
	end := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/postscreen\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:%d$`, s.port))
	return out, in.waitLog(t, first, end)
}

// pflogsummNormal rewrites what differs between two runs of the same
// sessions: times of day, client ports, process ids and the instance
// directory.
var pflogsummNormal = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^([A-Z][a-z]{2} [ 0-9]\d) \d\d:\d\d:\d\d `), "$1 12:00:00 "},
	{regexp.MustCompile(`\]:\d+`), "]:PORT"},
	{regexp.MustCompile(`\[\d+\]: `), "[PID]: "},
	{regexp.MustCompile(`/tmp/tlsproxy-interop-\d+`), "/tmp/DIR"},
}

// comparePflogsumm requires every line of both logs to carry Postfix's
// postlogd time stamp (day padded with a zero), and equal pflogsumm
// reports, with full message detail, over both.
func comparePflogsumm(t *testing.T, cLog, oursLog string) {
	t.Helper()
	stamp := regexp.MustCompile(`^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d [a-z]+ postfix/[a-z]+\[\d+\]: `)
	for name, log := range map[string]string{"debian": cLog, "ours": oursLog} {
		for line := range strings.Lines(log) {
			if !stamp.MatchString(line) {
				t.Errorf("%s log: line not in Postfix's postlogd form: %q", name, line)
			}
		}
	}
	if _, err := exec.LookPath("pflogsumm"); err != nil {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatal("pflogsumm not installed (Debian package pflogsumm; scripts/install-deps.sh)")
		}
		t.Skip("pflogsumm not installed: report comparison skipped")
	}
	report := func(log string) string {
		for _, n := range pflogsummNormal {
			log = n.re.ReplaceAllString(log, n.with)
		}
		cmd := exec.Command("pflogsumm", "--problems-first")
		cmd.Stdin = strings.NewReader(log)
		// Entries with equal counts come in Perl's hash order: make
		// it the same for both runs.
		cmd.Env = append(os.Environ(), "PERL_HASH_SEED=0", "PERL_PERTURB_KEYS=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pflogsumm: %v", err)
		}
		return string(out)
	}
	cReport, oursReport := report(cLog), report(oursLog)
	if cReport != oursReport {
		t.Errorf("pflogsumm reports differ:\n--- Debian's tlsproxy:\n%s\n--- ours:\n%s", cReport, oursReport)
	}
	if !strings.Contains(oursReport, "TLS library problem: error:0A00009C:SSL routines::http request") {
		t.Errorf("pflogsumm report lacks tlsproxy's http request warning:\n%s", oursReport)
	}
	t.Logf("pflogsumm report (equal for both):\n%s", oursReport)
}

// sslv2Hello is an SSL 2.0-format ClientHello offering TLS 1.0 with two
// cipher specs.
func sslv2Hello() string {
	specs := "\x00\x00\x2f\x00\x00\x35" // TLS_RSA_WITH_AES_128/256_CBC_SHA
	challenge := "0123456789abcdef"
	body := "\x01\x03\x01" + "\x00\x06" + "\x00\x00" + "\x00\x10" + specs + challenge
	return string([]byte{0x80 | byte(len(body)>>8), byte(len(body))}) + body
}
