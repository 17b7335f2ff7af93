package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// TestReport runs the command on a few configurations and compares its
// output with testdata/report.golden (certificate descriptions do not
// depend on the keys, which differ between runs for ECDSA).
func TestReport(t *testing.T) {
	dir := t.TempDir()
	ca := pftest.NewCA(t, "Report CA")
	edCert, edKey := ca.Issue(t, "mx.example.test", []string{"mx.example.test"}, pftest.KeyEd25519)
	ecCert, ecKey := ca.Issue(t, "mx-ec.example.test", nil, pftest.KeyECDSA256)
	pftest.WriteFiles(t, dir, map[string][]byte{
		"ed.pem": append(append(edKey, edCert...), ca.CertPEM...), "ec.pem": ecCert, "ec.key": ecKey, "ca.pem": ca.CertPEM,
		"main.cf": []byte("compatibility_level = 3.6\nsmtpd_tls_security_level = may\nsmtpd_tls_chain_files = $config_directory/ed.pem\n"),
		"master.cf": []byte("# comment\n" +
			"smtp      inet  n       -       y       -       1       postscreen\n" +
			"tlsproxy  unix  -       -       y       -       0       tlsproxy\n" +
			"  -o tlsproxy_tls_ask_ccert=yes\n\n" +
			"  # a comment inside the entry\n" +
			"  -o { tlsproxy_tls_loglevel = 2 }\n" +
			"tlsproxy  inet  n       -       y       -       -       tlsproxy -o tlsproxy_tls_loglevel=0\n" +
			"other     unix  -       -       n       -       -       smtp\n"),
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		args []string
		code int
		now  time.Time // zero: now
	}{
		{"defaults", nil, 0, time.Time{}},
		{"tls12 high", []string{"-o", "tlsproxy_tls_protocols=>=TLSv1.2", "-o", "tlsproxy_tls_ciphers=high"}, 0, time.Time{}},
		{"encrypt with client certs", []string{"-o", "tlsproxy_tls_security_level=encrypt", "-o", "tlsproxy_tls_mandatory_protocols=TLSv1.2",
			"-o", "tlsproxy_tls_mandatory_exclude_ciphers=CHACHA20", "-o", "tlsproxy_tls_req_ccert=yes", "-o", "tlsproxy_tls_CAfile=$config_directory/ca.pem",
			"-o", "tlsproxy_tls_chain_files=", "-o", "tlsproxy_tls_eccert_file=$config_directory/ec.pem", "-o", "tlsproxy_tls_eckey_file=$config_directory/ec.key",
			"-o", "tlsproxy_tls_dh1024_param_file=/etc/dh.pem", "-o", "tls_preempt_cipherlist=yes"}, 0, time.Time{}},
		{"no usable suite", []string{"-o", "tlsproxy_tls_protocols=<=TLSv1.1", "-o", "tlsproxy_tls_exclude_ciphers=SHA1"}, 3, time.Time{}},
		{"level none", []string{"-o", "tlsproxy_tls_security_level=none"}, 3, time.Time{}},
		{"invalid level", []string{"-o", "tlsproxy_tls_security_level=dane"}, 1, time.Time{}},
		{"bad boolean", []string{"-o", "tlsproxy_tls_ask_ccert=1"}, 1, time.Time{}},
		{"service options", []string{"-s", "tlsproxy"}, 0, time.Time{}},
		{"service options, command line wins", []string{"-s", "tlsproxy/unix", "-o", "tlsproxy_tls_ask_ccert=no"}, 0, time.Time{}},
		{"inet service", []string{"-s", "tlsproxy/inet"}, 0, time.Time{}},
		{"unknown service", []string{"-s", "nosuch"}, 2, time.Time{}},
		{"service runs another command", []string{"-s", "other"}, 2, time.Time{}},
		{"no certificate loads", []string{"-o", "smtpd_tls_chain_files=$config_directory/missing.pem"}, 4, time.Time{}},
		{"expires within -w days", []string{"-w", "27100"}, 5, time.Time{}},
		{"not within -w days", []string{"-w", "27000"}, 0, time.Time{}},
		{"expired", nil, 5, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"not yet valid", nil, 5, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	var got bytes.Buffer
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		at := now
		if !c.now.IsZero() {
			at = c.now
		}
		code := run(append([]string{"-c", dir}, c.args...), "", &stdout, &stderr, at)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d; stderr %s", c.name, code, c.code, stderr.String())
		}
		got.WriteString("== " + c.name + "\n" + stdout.String() + stderr.String())
	}
	out := strings.ReplaceAll(got.String(), dir, "$DIR")
	pftest.Golden(t, "report.golden", out, *pftest.Update)
}

// TestMailConfig: without -c the command reads $MAIL_CONFIG.
func TestMailConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, t.TempDir(), &stdout, &stderr, time.Now()); code != 1 || !strings.Contains(stderr.String(), "main.cf: no such file") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"extra"}, "", &stdout, &stderr, time.Now()); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}
