package interop

import (
	"fmt"
	"regexp"
	"testing"
)

// TestClientCipherOrder: with tls_preempt_cipherlist = no (the default),
// a TLS 1.2 client gets its most preferred suite that the policy allows,
// from Debian's tlsproxy (OpenSSL) and ours alike.
func TestClientCipherOrder(t *testing.T) {
	requireInterop(t)
	clients := []struct {
		name string
		args []string
		want string // OpenSSL's name of the suite both must choose
	}{
		{"openssl default order", []string{"-tls1_2"}, "ECDHE-RSA-AES256-GCM-SHA384"},
		{"AES-128 first", []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"}, "ECDHE-RSA-AES128-GCM-SHA256"},
		{"ChaCha20 first", []string{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384"}, "ECDHE-RSA-CHACHA20-POLY1305"},
		{"CBC first", []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256"}, "ECDHE-RSA-AES256-SHA"},
	}
	for _, im := range impls {
		bin := im.binary(t)
		in := onceFor(t, "reasons/"+im.name, func() (*instance, error) {
			in, _, err := startWith(bin, "--chroot", "n", "--main", "smtpd_tls_protocols = >=TLSv1.2")
			return in, err
		})
		for _, c := range clients {
			offset := in.logSize(t)
			_, port := sClient(t, in, "QUIT\n", c.args...)
			seg := sessionLog(t, in, offset, port)
			re := regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.1\]:%d: TLSv1\.2 with cipher (\S+) `, port))
			m := re.FindStringSubmatch(seg)
			switch {
			case m == nil:
				t.Errorf("%s %s: no TLSv1.2 session logged:\n%s", im.name, c.name, tlsproxyLines(seg))
			case m[1] != c.want:
				t.Errorf("%s %s: cipher %s, want %s", im.name, c.name, m[1], c.want)
			}
		}
	}
}
