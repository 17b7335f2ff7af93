package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
	"tlsproxy/internal/tlspolicy"
)

// Log safety: certificate names and SNI values are the
// remote's bytes; whatever they hold, every log record stays one line of
// printable text (maillog turns each non-printable byte into '?').

// hostileCert returns a client certificate whose subject and issuer
// common names are cn and issuerCN (self-issued, never verified).
func hostileCert(t *testing.T, cn, issuerCN string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		Issuer:       pkix.Name{CommonName: issuerCN},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent := *tmpl
	parent.Subject = pkix.Name{CommonName: issuerCN}
	key := pftest.ECKey(t, pftest.KeyECDSA256)
	c := pftest.Forge(t, tmpl, &parent, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key}
}

func TestLogSafety(t *testing.T) {
	tests := []struct {
		name, cn, issuer, sni string
		wantCN                string // as it must appear in the peer certificate line
	}{
		// Names with control characters are left out, as Postfix's
		// tls_text_name does (its warnings: tlspolicy TestUnsafePeerNames).
		{"newline in CN", "evil\nCONNECT from [192.0.2.66]:25", "CA\r\nwarning: forged", "mx.example.test",
			"subject_CN=, issuer=,"},
		{"escape sequences", "\x1b[31mred\x1b[0m\x07\x7f", "\x00nul", "mx.example.test",
			"subject_CN=, issuer=,"},
		{"C1 and invalid UTF-8 in SNI", "ok.example", "Issuer", "odd\x01name\xff\xc2\x85.example",
			"subject_CN=ok.example, issuer=Issuer,"},
		{"newline in SNI", "ok.example", "Issuer", "a\nb\rc\td.example", "subject_CN=ok.example, issuer=Issuer,"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, func(s *tlspolicy.ServerSettings) { s.AskCcert, s.LogLevel = true, "2" })
			p := fx.start(t)
			rc, rf := pftest.RemotePair(t)
			ep := "[127.0.0.1]:" + string(rune('0'+i)) + "025"
			handOver(t, p, FlagRoleServer|FlagSendContext, rf, ep)
			cert := hostileCert(t, tt.cn, tt.issuer)
			tc := tls.Client(rc, &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true,
				Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			tc.Close()
			_, _ = io.Copy(io.Discard, p.plain) // the context, then EOF
			waitDone(t, p)
			lines := fx.rec.Lines()
			found := false
			for _, l := range lines {
				for _, c := range []byte(l) {
					if c < 0x20 || c == 0x7f {
						t.Errorf("record holds byte %#x: %q", c, l)
						break
					}
				}
				if strings.Contains(l, tt.wantCN) {
					found = true
				}
				for _, bad := range []string{"\xff", "\xc2\x85", "\x1b"} {
					if strings.Contains(l, bad) {
						t.Errorf("record holds %q: %q", bad, l)
					}
				}
			}
			if !found {
				t.Errorf("no record contains %q:\n%s", tt.wantCN, strings.Join(lines, "\n"))
			}
			t.Logf("records: %q", lines)
		})
	}
}
