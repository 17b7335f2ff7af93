package interop

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// sslscanResult is the part of `sslscan --xml=-` the test reads.
type sslscanResult struct {
	Tests []struct {
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"protocol"`
		Ciphers []struct {
			Status  string `xml:"status,attr"`
			Version string `xml:"sslversion,attr"`
			Name    string `xml:"cipher,attr"`
		} `xml:"cipher"`
	} `xml:"ssltest"`
}

// scan is what a scanner found: protocols and suites per protocol, with
// OpenSSL's protocol names ("TLSv1", not sslscan's "TLSv1.0").
type scan struct {
	protocols []string
	ciphers   map[string][]string
}

func opensslProto(sslscanName string) string {
	if sslscanName == "TLSv1.0" {
		return "TLSv1"
	}
	return sslscanName
}

// runSSLScan scans postscreen's STARTTLS on in with sslscan.
func runSSLScan(t *testing.T, in *instance) scan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sslscan", "--starttls-smtp", "--xml=-", "--no-colour",
		"--no-heartbleed", "--no-compression", "--no-renegotiation", "--no-fallback", "--no-groups",
		"--no-check-certificate", "--no-cipher-details", in.addr())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sslscan: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	// The XML document follows sslscan's text report on stdout.
	out := stdout.Bytes()
	if i := bytes.Index(out, []byte("<?xml")); i >= 0 {
		out = out[i:]
	}
	var res sslscanResult
	if err := xml.Unmarshal(out, &res); err != nil || len(res.Tests) != 1 {
		t.Fatalf("sslscan output: %v (%d tests)\n%s", err, len(res.Tests), stdout.String())
	}
	s := scan{ciphers: map[string][]string{}}
	for _, p := range res.Tests[0].Protocols {
		if p.Enabled != "1" {
			continue
		}
		if p.Type != "tls" {
			t.Errorf("sslscan found %s %s enabled", p.Type, p.Version)
			continue
		}
		s.protocols = append(s.protocols, opensslProto("TLSv"+p.Version))
	}
	for _, c := range res.Tests[0].Ciphers {
		if c.Status == "accepted" || c.Status == "preferred" {
			v := opensslProto(c.Version)
			s.ciphers[v] = append(s.ciphers[v], c.Name)
		}
	}
	return s
}

// sameSet compares as sets; keep, when non-nil, restricts got.
func sameSet(got, want []string, keep map[string]bool) bool {
	var g []string
	for _, x := range got {
		if keep == nil || keep[x] {
			g = append(g, x)
		}
	}
	g, w := slices.Sorted(slices.Values(g)), slices.Sorted(slices.Values(want))
	return slices.Equal(slices.Compact(g), slices.Compact(w))
}

// TestScannerPolicies scans postscreen with our tlsproxy for three
// policies: the protocols and suites sslscan finds must be exactly what
// tlsproxy-policy predicts. Debian's tlsproxy, scanned the same way, must
// agree on every protocol and on every suite Go implements (OpenSSL offers
// more: DHE, CAMELLIA, ARIA, CCM, anonymous suites).
func TestScannerPolicies(t *testing.T) {
	requireInterop(t)
	if _, err := exec.LookPath("sslscan"); err != nil {
		failOrSkip(t, "sslscan not installed (Debian package sslscan; scripts/install-deps.sh)")
	}
	known := goSuiteNames()
	forPredictedPolicies(t, func(t *testing.T, im impl, in *instance, want prediction) {
		got := runSSLScan(t, in)
		var keep map[string]bool
		if im.name != "ours" {
			keep = known
		}
		if !slices.Equal(got.protocols, want.protocols) {
			t.Errorf("protocols: sslscan %v, predicted %v", got.protocols, want.protocols)
		}
		n := 0
		for _, proto := range []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"} {
			n += len(want.ciphers[proto])
			if !sameSet(got.ciphers[proto], want.ciphers[proto], keep) {
				t.Errorf("%s suites:\nsslscan   %s\npredicted %s", proto,
					strings.Join(got.ciphers[proto], " "), strings.Join(want.ciphers[proto], " "))
			}
		}
		t.Logf("%d protocols, %d suites as predicted", len(want.protocols), n)
		if t.Failed() {
			t.Logf("tlsproxy-policy:\n%s", want.report)
		}
	})
}

// failOrSkip skips, or fails when the interop tests are required.
func failOrSkip(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("%s (required by %s=1)", reason, requiredEnv)
	}
	t.Skip(reason)
}
