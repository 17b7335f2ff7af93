package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPosttlsFinger runs Postfix's own posttls-finger -X (client role
// through tlsproxy, TLS context reply) with a series of options against
// Debian's tlsproxy and ours, and wants the same output from
// posttls-finger and the same tlsproxy log lines, after taking out what
// differs by nature: ports, fingerprints, paths, process ids, the TLS 1.3
// cipher (Go prefers AES-128, OpenSSL AES-256, and neither is
// configurable) and OpenSSL's "TLS library problem" lines. The options
// cover requests with other settings than tlsproxy's (a CAfile it can
// read after the jail, one it cannot), a repeat of such a request, other
// log levels (verbose included), a fingerprint posttls-finger drops (no
// TLSA records at the fingerprint level), and an IP address as the
// reference name.
func TestPosttlsFinger(t *testing.T) {
	requireInterop(t)
	if _, err := exec.LookPath("posttls-finger"); err != nil {
		t.Skip("no posttls-finger")
	}
	// CA files outside the 0700 instance directories: one that user
	// postfix can read, one that only root can.
	caDir, err := os.MkdirTemp("/tmp", "tlsproxy-finger-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(caDir) })
	if err := os.Chmod(caDir, 0o755); err != nil {
		t.Fatal(err)
	}
	type run struct{ out, log string }
	results := map[string][]run{}
	var options [][]string
	for _, im := range impls {
		in := onceFor(t, "finger:"+im.name, func() (*instance, error) {
			in, _, err := startWith(im.binary(t), "--chroot", "n")
			return in, err
		})
		sinkPort := in.sinkPort
		cert, err := os.ReadFile(in.cert)
		if err != nil {
			t.Fatal(err)
		}
		readable, rootOnly := filepath.Join(caDir, im.name+"-ca.pem"), filepath.Join(caDir, im.name+"-root.pem")
		if err := os.WriteFile(readable, cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rootOnly, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		options = [][]string{
			{"-l", "may"},
			{"-l", "encrypt"},
			{"-l", "secure", "-F", readable},
			{"-l", "secure", "-F", readable, "-m", "localhost"},
			{"-l", "verify", "-F", rootOnly},
			{"-l", "verify", "-F", rootOnly},
			{"-l", "fingerprint", "-m", "00:11"},
			{"-l", "may", "-L", "summary,cache"},
			// verbose: cipher list, verify callback lines, one
			// "initializing" line per new list of settings
			{"-l", "may", "-L", "routine,verbose"},
			{"-l", "may", "-L", "routine,verbose"},
			{"-l", "secure", "-F", readable, "-L", "routine,verbose"},
			// the reference name 127.0.0.1 is an IP check: Verified
			{"-l", "verify", "-F", readable},
		}
		for _, opts := range options {
			offset := in.logSize(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			args := append(append([]string{"-X", "-c"}, opts...), fmt.Sprintf("[127.0.0.1]:%d", sinkPort))
			cmd := exec.CommandContext(ctx, "posttls-finger", args...)
			cmd.Env = append(os.Environ(), "MAIL_CONFIG="+filepath.Join(in.dir, "etc"))
			out, _ := cmd.CombinedOutput() // exit status differs with the outcome; the text is compared
			cancel()
			seg := in.waitLog(t, offset, regexp.MustCompile(fmt.Sprintf(`(?m)postfix/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:%d$`, sinkPort)))
			norm := fingerNormalizer(sinkPort, in.dir, caDir, im.name)
			results[im.name] = append(results[im.name], run{norm(string(out)), norm(tlsproxyLines(seg))})
		}
	}
	debian, ours := results["debian"], results["ours"]
	if len(debian) != len(ours) {
		t.Fatalf("%d runs with debian, %d with ours", len(debian), len(ours))
	}
	for i := range debian {
		name := strings.Join(options[i], " ")
		if debian[i].out != ours[i].out {
			t.Errorf("posttls-finger -X %s: output differs\ndebian:\n%s\nours:\n%s", name, debian[i].out, ours[i].out)
		}
		if debian[i].log != ours[i].log {
			t.Errorf("posttls-finger -X %s: tlsproxy log differs\ndebian:\n%s\nours:\n%s", name, debian[i].log, ours[i].log)
		}
		if !t.Failed() {
			t.Logf("posttls-finger -X %s:\n%s%s", name, ours[i].out, ours[i].log)
		}
	}
}

// fingerNormalizer takes out of posttls-finger's output and tlsproxy's
// lines what differs between the instances and the TLS libraries.
func fingerNormalizer(port int, dir, caDir, impl string) func(string) string {
	hex := regexp.MustCompile(`[0-9A-F]{2}(:[0-9A-F]{2}){15,}`)
	cipher := regexp.MustCompile(`TLS_AES_(128_GCM_SHA256 \(128/128|256_GCM_SHA384 \(256/256) bits\)`)
	prefix := regexp.MustCompile(`(?m)^.*postfix/tlsproxy\[\d+\]: `)
	libProblem := regexp.MustCompile(`(?m)^warning: TLS library problem: .*\n`)
	return func(s string) string {
		s = prefix.ReplaceAllString(s, "")
		s = libProblem.ReplaceAllString(s, "")
		s = strings.ReplaceAll(s, fmt.Sprintf(":%d", port), ":PORT")
		s = strings.ReplaceAll(s, dir, "DIR")
		s = strings.ReplaceAll(s, filepath.Join(caDir, impl+"-"), "CADIR/")
		s = hex.ReplaceAllString(s, "HEX")
		return cipher.ReplaceAllString(s, "CIPHER")
	}
}
