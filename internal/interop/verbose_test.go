package interop

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServerRoleVerboseLog compares the server role's log at
// tlsproxy_tls_loglevel = 2 with a client certificate asked for:
// Debian's tlsproxy and ours must log the same lines for TLS 1.3 and 1.2
// sessions without a client certificate, one with a (self-signed) client
// certificate, and its resumption from a session ticket: cipher list,
// verify callback lines, ticket lines, subject/issuer, the peer
// certificate line and the summary. What differs by nature is taken out:
// OpenSSL's state lines (SSL_accept:..., not reproduced), ports,
// fingerprints, key expiration times, and the cipher chosen (Go prefers
// AES-128, OpenSSL follows the client's AES-256).
func TestServerRoleVerboseLog(t *testing.T) {
	requireInterop(t)
	logs := verboseLogs(t, impls)
	if logs["debian"] != logs["ours"] {
		t.Errorf("level-2 server-role log differs\ndebian:\n%s\nours:\n%s", logs["debian"], logs["ours"])
	} else {
		t.Logf("both:\n%s", logs["ours"])
	}
	checkVerboseWords(t, logs["ours"])
}

// verboseLogs runs TestServerRoleVerboseLog's sessions against each of
// ims and returns each one's normalized tlsproxy lines by impl name.
func verboseLogs(t *testing.T, ims []impl) map[string]string {
	t.Helper()
	logs := map[string]string{}
	for _, im := range ims {
		in := onceFor(t, "verbose:"+im.name, func() (*instance, error) {
			in, _, err := startIn(im.root(), im.binary(t), "--chroot", "n",
				"--tlsproxy-args", "-o tlsproxy_tls_loglevel=2 -o tlsproxy_tls_ask_ccert=yes")
			return in, err
		})
		key := filepath.Join(filepath.Dir(in.cert), "key.pem")
		sess := filepath.Join(t.TempDir(), "session.pem")
		offset := in.logSize(t)
		for _, args := range [][]string{
			{"-tls1_3"},
			{"-tls1_2"},
			{"-tls1_3", "-cert", in.cert, "-key", key, "-sess_out", sess},
			{"-tls1_3", "-cert", in.cert, "-key", key, "-sess_in", sess},
		} {
			before := in.logSize(t)
			_, port := sClient(t, in, "QUIT\r\n", append([]string{"-quiet"}, args...)...)
			in.waitLog(t, before, regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:%d$`, port)))
		}
		logs[im.name] = normalizeVerbose(tlsproxyLines(in.waitLog(t, offset, regexp.MustCompile(`(?s)(DISCONNECT.*){4}`))))
	}
	return logs
}

// checkVerboseWords checks that our level-2 log has the lines that show
// each step of verboseLogs' sessions.
func checkVerboseWords(t *testing.T, ours string) {
	t.Helper()
	for _, want := range []string{"TLS cipher list", "depth=0 verify=0 subject=/CN=localhost", "Issuing session ticket",
		"Decrypting session ticket", "Reusing old session (RFC 5077 session ticket)", "\nsubject=/CN=localhost", "\nissuer=/CN=localhost"} {
		if !strings.Contains(ours, want) {
			t.Errorf("our log has no %q", want)
		}
	}
}

func normalizeVerbose(s string) string {
	for _, r := range []struct{ re, with string }{
		{`(?m)^.*postfix/tlsproxy\[\d+\]: `, ""},
		{`(?m)^SSL_accept:.*\n`, ""},
		{`\]:\d+`, "]:PORT"},
		{`[0-9A-F]{2}(:[0-9A-F]{2}){15,}`, "HEX"},
		{`key expiration: \d+`, "key expiration: N"},
		{`TLS_AES_(128_GCM_SHA256 \(128/128|256_GCM_SHA384 \(256/256) bits\)`, "CIPHER"},
		{`ECDHE-RSA-AES(128-GCM-SHA256 \(128/128|256-GCM-SHA384 \(256/256) bits\)`, "CIPHER"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}
