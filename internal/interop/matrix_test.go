package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// matrixClient is one client configuration of the interop matrix. It
// offers protocol version proto ("" = whatever the client supports, TLSv1.2
// and TLSv1.3 at least) and, when suites is set, only those TLS <= 1.2
// suites; it must succeed iff the prediction has one of them for proto.
type matrixClient struct {
	name   string
	proto  string
	suites []string
	// run makes one STARTTLS session; port is the client's local port
	// (0 if the client cannot choose it) and detail what to show on failure.
	run func(t *testing.T, in *instance) (ok bool, port int, detail string)
}

// allowed says whether the predicted policy lets c through.
func (c matrixClient) allowed(p prediction) bool {
	protos := []string{c.proto}
	if c.proto == "" {
		protos = []string{"TLSv1.3", "TLSv1.2"}
	}
	for _, proto := range protos {
		for _, s := range p.ciphers[proto] {
			if c.suites == nil || slices.Contains(c.suites, s) {
				return true
			}
		}
	}
	return false
}

// command runs a client command with a deadline and stdin; ok = exit 0.
func command(t *testing.T, stdin string, name string, args ...string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within 30s:\n%s", name, out.String())
	}
	return err == nil, fmt.Sprintf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
}

func onePort(t *testing.T) int {
	t.Helper()
	p, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

// opensslClient runs `openssl s_client -starttls smtp` restricted to one
// protocol version (security level 0, so that TLSv1 and TLSv1.1 are
// possible at all with OpenSSL 3).
func opensslClient(flag, proto string) matrixClient {
	return matrixClient{name: "openssl " + flag, proto: proto, run: func(t *testing.T, in *instance) (bool, int, string) {
		port := onePort(t)
		args := []string{"s_client", "-starttls", "smtp", "-connect", in.addr(), "-bind", fmt.Sprintf("127.0.0.1:%d", port),
			"-brief", flag}
		if proto != "TLSv1.3" {
			args = append(args, "-cipher", "DEFAULT:@SECLEVEL=0")
		}
		ok, out := command(t, "QUIT\r\n", "openssl", args...)
		return ok && strings.Contains(out, "Protocol version: "+proto), port, out
	}}
}

// gnutlsClient runs gnutls-cli with a priority string.
func gnutlsClient(name, proto string, suites []string, priority string) matrixClient {
	return matrixClient{name: name, proto: proto, suites: suites, run: func(t *testing.T, in *instance) (bool, int, string) {
		args := []string{"--starttls-proto=smtp", "--port", strconv.Itoa(in.postscreenPort), "--insecure"}
		if priority != "" {
			args = append(args, "--priority", priority)
		}
		ok, out := command(t, "", "gnutls-cli", append(args, "127.0.0.1")...)
		return ok && strings.Contains(out, "Handshake was completed"), 0, out
	}}
}

// swaksClient runs swaks --tls up to the end of the TLS negotiation.
func swaksClient(name, proto string, suites []string, extra ...string) matrixClient {
	return matrixClient{name: name, proto: proto, suites: suites, run: func(t *testing.T, in *instance) (bool, int, string) {
		port := onePort(t)
		args := append([]string{"--server", in.addr(), "--tls", "--quit-after", "TLS",
			"--local-interface", fmt.Sprintf("127.0.0.1:%d", port), "--helo", "swaks.test"}, extra...)
		ok, out := command(t, "", "swaks", args...)
		return ok && strings.Contains(out, "=== TLS started with cipher"), port, out
	}}
}

// goClient runs a STARTTLS session with crypto/tls and cfg.
func goClient(name, proto string, suites []string, cfg func() *tls.Config) matrixClient {
	return matrixClient{name: name, proto: proto, suites: suites, run: func(t *testing.T, in *instance) (bool, int, string) {
		c := dialSMTP(t, in.addr())
		c.greetAndStartTLS()
		tc := tls.Client(c.raw, cfg())
		if err := tc.Handshake(); err != nil {
			return false, c.port, err.Error()
		}
		c.conn, c.r = tc, bufio.NewReader(tc)
		if code, lines := c.cmd("EHLO go.test"); code != 250 {
			return false, c.port, fmt.Sprintf("EHLO over TLS: %q", lines)
		}
		st := tc.ConnectionState()
		c.cmd("QUIT")
		return true, c.port, tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}}
}

var matrixClients = []matrixClient{
	opensslClient("-tls1", "TLSv1"),
	opensslClient("-tls1_1", "TLSv1.1"),
	opensslClient("-tls1_2", "TLSv1.2"),
	opensslClient("-tls1_3", "TLSv1.3"),
	gnutlsClient("gnutls-cli", "", nil, ""),
	gnutlsClient("gnutls-cli TLS1.2 CHACHA20", "TLSv1.2", []string{"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305"),
	swaksClient("swaks --tls", "", nil),
	swaksClient("swaks --tls TLSv1.2 AES128-GCM-SHA256", "TLSv1.2", []string{"AES128-GCM-SHA256"},
		"--tls-protocol", "tlsv1_2", "--tls-cipher", "AES128-GCM-SHA256"),
	goClient("go", "", nil, func() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }),
	goClient("go TLS1.0", "TLSv1", nil, func() *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}
	}),
	goClient("go TLS1.2 kRSA", "TLSv1.2", []string{"AES128-GCM-SHA256"}, func() *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}
	}),
}

// TestClientMatrix runs every matrix client against postscreen with
// Debian's tlsproxy and ours, for three policies. Each must succeed
// exactly where tlsproxy-policy predicts, and tlsproxy must log an
// established session exactly then (when the client's port is known).
func TestClientMatrix(t *testing.T) {
	requireInterop(t)
	for _, tool := range []string{"gnutls-cli", "swaks"} {
		if _, err := exec.LookPath(tool); err != nil {
			failOrSkip(t, tool+" not installed (scripts/install-deps.sh)")
		}
	}
	forPredictedPolicies(t, func(t *testing.T, _ impl, in *instance, pred prediction) {
		var summary []string
		for _, c := range matrixClients {
			want := c.allowed(pred)
			offset := in.logSize(t)
			ok, port, detail := c.run(t, in)
			if ok != want {
				t.Errorf("%s: success=%v, policy allows=%v\n%s", c.name, ok, want, detail)
			}
			if port != 0 {
				seg := sessionLog(t, in, offset, port)
				re := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: \w+ TLS connection established from \[127\.0\.0\.1\]:%d: `, port))
				if re.MatchString(seg) != ok {
					t.Errorf("%s: success=%v but established logged=%v:\n%s", c.name, ok, !ok, tlsproxyLines(seg))
				}
			}
			summary = append(summary, fmt.Sprintf("%s=%v", c.name, map[bool]string{true: "ok", false: "refused"}[ok]))
		}
		t.Logf("%s", strings.Join(summary, ", "))
	})
}

// TestClientCertificates presents client certificates with crypto/tls:
// the session must succeed and tlsproxy log Anonymous, Untrusted or
// Trusted as Postfix does, with Debian's tlsproxy and ours logging the
// same "established" line. "Required but absent" uses level encrypt with
// tlsproxy_tls_req_ccert = yes: tlsproxy still completes the handshake and
// only reports (postscreen ignores the result).
func TestClientCertificates(t *testing.T) {
	requireInterop(t)
	ca, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		policy policy
		cert   *tls.Certificate
		want   string // adjective
	}{
		{"none", policyAsk, nil, "Anonymous"},
		{"trusted", policyAsk, &ca.trusted, "Trusted"},
		{"untrusted self-signed", policyAsk, &ca.selfSigned, "Untrusted"},
		{"expired", policyAsk, &ca.expired, "Untrusted"},
		{"wrong CA", policyAsk, &ca.wrongCA, "Untrusted"},
		{"required but absent", policyEncrypt, nil, "Anonymous"},
		{"required and trusted", policyEncrypt, &ca.trusted, "Trusted"},
		{"required, wrong CA", policyEncrypt, &ca.wrongCA, "Untrusted"},
		{"required, expired", policyEncrypt, &ca.expired, "Untrusted"},
		{"required, self-signed", policyEncrypt, &ca.selfSigned, "Untrusted"},
	}
	lines := map[string]map[string]string{} // case -> impl -> normalized tlsproxy lines
	logs := map[string]string{}             // impl -> log segments of all cases
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					in := policyInstanceFor(t, im, c.policy)
					offset := in.logSize(t)
					cl := goClient(c.name, "", nil, func() *tls.Config {
						// Without the post-quantum hybrid, which Debian
						// 12's OpenSSL lacks: the same key exchange.
						return &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
							GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
								if c.cert == nil {
									return &tls.Certificate{}, nil
								}
								return c.cert, nil
							}}
					})
					ok, port, detail := cl.run(t, in)
					if !ok {
						t.Fatalf("session failed: %s", detail)
					}
					seg := sessionLog(t, in, offset, port)
					re := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: %s TLS connection established from \[127\.0\.0\.1\]:%d: `, c.want, port))
					if !re.MatchString(seg) {
						t.Errorf("no %q line:\n%s", c.want, tlsproxyLines(seg))
					}
					if lines[c.name] == nil {
						lines[c.name] = map[string]string{}
					}
					lines[c.name][im.name] = normalize(seg, port)
					logs[im.name] += seg
					t.Logf("%s", tlsproxyLines(seg))
				})
			}
		})
	}
	// Same established line from both; other lines (OpenSSL's own
	// verification details) are shown, not required.
	for _, c := range cases {
		deb, ours := lines[c.name]["debian"], lines[c.name]["ours"]
		if deb == "" || ours == "" {
			continue
		}
		if est(deb) != est(ours) {
			t.Errorf("%s: established lines differ:\ndebian: %s\nours:   %s", c.name, est(deb), est(ours))
		}
		if deb != ours {
			t.Logf("%s: other tlsproxy lines differ:\ndebian:\n%sours:\n%s", c.name, deb, ours)
		}
	}
	compareLineForms(t, "client certificates", logs["debian"], logs["ours"], true)
}

// normalize keeps the message text of tlsproxy's lines, with the
// client's port replaced by PORT.
func normalize(seg string, port int) string {
	var b strings.Builder
	for line := range strings.Lines(seg) {
		if _, msg, ok := strings.Cut(line, "postfix/tlsproxy["); ok {
			_, msg, _ = strings.Cut(msg, "]: ")
			b.WriteString(strings.ReplaceAll(msg, ":"+strconv.Itoa(port), ":PORT"))
		}
	}
	return b.String()
}

// est returns the "established" line of a normalized log segment.
func est(s string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, "TLS connection established") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
