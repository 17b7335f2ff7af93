package tlspolicy

import (
	"context"
	"crypto/tls"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// TestOpenSSLClient handshakes with `openssl s_client` (skipped when the
// command is missing) and compares the summary line with what Debian's
// tlsproxy 3.7.11 logged for the same client options.
func TestOpenSSLClient(t *testing.T) {
	f, ecSettings := opensslFixture(t, "mx-ec384.example.test")

	tests := []struct {
		name     string
		settings ServerSettings
		args     []string
		want     string
	}{
		{"rsa tls13", f.settings(), []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"},
			"Anonymous TLS connection established from [127.0.0.1]:38510: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"},
		{"rsa tls12", f.settings(), []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"},
			"Anonymous TLS connection established from [127.0.0.1]:38510: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"},
		{"rsa tls11", f.settings(), []string{"-tls1_1", "-cipher", "ECDHE-RSA-AES256-SHA:@SECLEVEL=0"},
			"Anonymous TLS connection established from [127.0.0.1]:38510: TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)"},
		{"ecdsa p384 tls13 p256 group", ecSettings, []string{"-tls1_3", "-groups", "P-256", "-ciphersuites", "TLS_AES_256_GCM_SHA384"},
			"Anonymous TLS connection established from [127.0.0.1]:38510: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange ECDHE (prime256v1) server-signature ECDSA (secp384r1) server-digest SHA384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustServer(t, tt.settings)
			tc, served := opensslHandshake(t, srv, tt.args)
			got := ServerInfo(tc.ConnectionState(), srv, served()).Summary("from", "[127.0.0.1]:38510")
			if got != tt.want {
				t.Errorf("summary:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// opensslFixture is the fixture of a test that runs `openssl s_client`
// (skipped when it is missing), with a P-384 ECDSA certificate for cn in
// ec.pem and the settings that serve it alone.
func opensslFixture(t *testing.T, cn string) (*fixture, ServerSettings) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	f := newFixture(t)
	ecCert, ecKey := f.ca.Issue(t, cn, nil, pftest.KeyECDSA384)
	pftest.WriteFiles(t, f.dir, map[string][]byte{"ec.pem": cat(ecKey, ecCert)})
	ec := f.settings()
	ec.ChainFiles = filepath.Join(f.dir, "ec.pem")
	ec.CertFile, ec.KeyFile = "", ""
	return f, ec
}

// opensslHandshake runs `openssl s_client` with args against srv on
// loopback and returns the server's end after the handshake, with the
// report of the certificate served that SessionConfig gave.
func opensslHandshake(t *testing.T, srv *Server, args []string) (*tls.Conn, func() *tls.Certificate) {
	t.Helper()
	ln := pftest.ListenTCP(t)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	args = append([]string{"s_client", "-connect", ln.Addr().String(), "-brief"}, args...)
	cmd := exec.CommandContext(ctx, "openssl", args...)
	if err := cmd.Start(); err != nil { // stdin is /dev/null: s_client quits after the handshake
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait(); cancel() })
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cfg, served := srv.SessionConfig()
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return tc, served
}
