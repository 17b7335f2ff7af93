package interop

// Helpers for the policy tests (scanner_test.go, matrix_test.go):
// instances started with extra main.cf lines, a small PKI for client
// certificates, and the predictions of cmd/tlsproxy-policy.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// policy is a named set of main.cf lines; "{PKI}" stands for the
// instance's directory of test CA files.
type policy struct {
	name string
	main []string
}

var (
	// policyDefault is Postfix's default server policy (level may from
	// pfinstance's main.cf). postscreen's "220-" pre-greeting is turned
	// off: sslscan sends EHLO right after the first 220 line.
	policyDefault = policy{"defaults", []string{"postscreen_greet_banner ="}}
	// policyTLS12High allows TLS 1.2 and 1.3 with the high grade.
	policyTLS12High = policy{"tls12-high", []string{"postscreen_greet_banner =",
		"tlsproxy_tls_protocols = >=TLSv1.2", "tlsproxy_tls_ciphers = high"}}
	// policyEncrypt is level encrypt with the mandatory settings, and a
	// client certificate required (which tlsproxy only reports).
	policyEncrypt = policy{"encrypt", []string{"postscreen_greet_banner =",
		"tlsproxy_tls_security_level = encrypt",
		"tlsproxy_tls_mandatory_protocols = >=TLSv1.1, !TLSv1.3",
		"tlsproxy_tls_mandatory_ciphers = high",
		"tlsproxy_tls_mandatory_exclude_ciphers = kRSA, CHACHA20",
		"tlsproxy_tls_req_ccert = yes",
		"tlsproxy_tls_CAfile = {PKI}/ca.pem"}}
	// policyAsk asks for client certificates at level may.
	policyAsk = policy{"ask-ccert", []string{"postscreen_greet_banner =",
		"tlsproxy_tls_ask_ccert = yes",
		"tlsproxy_tls_CAfile = {PKI}/ca.pem"}}
)

// policyInstanceFor returns the running instance of im with policy p,
// starting it on first use. TestMain stops it like the others.
func policyInstanceFor(t *testing.T, im impl, p policy) *instance {
	t.Helper()
	bin := im.binary(t)
	return onceFor(t, "policy:"+im.name+"/"+p.name, func() (*instance, error) { return startPolicyInstance(bin, p) })
}

// startPolicyInstance is startInstance (chroot n) with the policy's
// main.cf lines and the test PKI in DIR/pki.
func startPolicyInstance(bin string, p policy) (*instance, error) {
	dir, err := newInstanceDir()
	if err != nil {
		return nil, err
	}
	pki, err := testPKI()
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "pki"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pki", "ca.pem"), pki.caPEM, 0o644); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	args := []string{"--chroot", "n"}
	for _, m := range p.main {
		args = append(args, "--main", strings.ReplaceAll(m, "{PKI}", filepath.Join(dir, "pki")))
	}
	in := &instance{dir: dir}
	return in, in.start(bin, ports, args...)
}

// pki holds the client-certificate fixtures: a CA trusted through the
// policies' CAfile, and client certificates that are trusted, expired
// (same CA), from another CA, or self-signed.
type pki struct {
	caPEM                                 []byte
	trusted, expired, wrongCA, selfSigned tls.Certificate
	trustedCN, expiredCN, wrongCN, selfCN string
}

var (
	pkiOnce sync.Once
	pkiData *pki
	pkiErr  error
)

func testPKI() (*pki, error) {
	pkiOnce.Do(func() { pkiData, pkiErr = makePKI() })
	return pkiData, pkiErr
}

func makePKI() (*pki, error) {
	now := time.Now()
	valid := [2]time.Time{now.Add(-time.Hour), now.Add(30 * 24 * time.Hour)}
	pair := func(c *x509.Certificate, k *ecdsa.PrivateKey) tls.Certificate {
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
	}
	ca, caKey, err := issueCert(certReq{cn: "Interop CA", ca: true, when: valid}, nil, nil)
	if err != nil {
		return nil, err
	}
	other, otherKey, err := issueCert(certReq{cn: "Other CA", ca: true, when: valid}, nil, nil)
	if err != nil {
		return nil, err
	}
	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		trustedCN: "trusted.client.test", expiredCN: "expired.client.test", wrongCN: "wrongca.client.test", selfCN: "self.client.test"}
	for _, c := range []struct {
		cn     string
		when   [2]time.Time
		parent *x509.Certificate
		key    *ecdsa.PrivateKey
		dst    *tls.Certificate
	}{
		{p.trustedCN, valid, ca, caKey, &p.trusted},
		{p.expiredCN, [2]time.Time{now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)}, ca, caKey, &p.expired},
		{p.wrongCN, valid, other, otherKey, &p.wrongCA},
		{p.selfCN, valid, nil, nil, &p.selfSigned},
	} {
		cert, key, err := issueCert(certReq{cn: c.cn, usage: x509.ExtKeyUsageClientAuth, when: c.when}, c.parent, c.key)
		if err != nil {
			return nil, err
		}
		*c.dst = pair(cert, key)
	}
	return p, nil
}

// forPredictedPolicies runs check in parallel subtests on an instance of
// every implementation under each of the default, TLS 1.2 high and
// encrypt policies, with what tlsproxy-policy predicts that it offers.
func forPredictedPolicies(t *testing.T, check func(t *testing.T, im impl, in *instance, pred prediction)) {
	tool := policyTool(t)
	for _, p := range []policy{policyDefault, policyTLS12High, policyEncrypt} {
		for _, im := range impls {
			t.Run(p.name+"/"+im.name, func(t *testing.T) {
				t.Parallel()
				in := policyInstanceFor(t, im, p)
				check(t, im, in, predict(t, tool, in))
			})
		}
	}
}

// policyTool builds cmd/tlsproxy-policy into a directory of t.
func policyTool(t *testing.T) string {
	t.Helper()
	bin, err := goBuild(moduleRoot(t), t.TempDir(), "tlsproxy-policy")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// prediction is what tlsproxy-policy says the server offers.
type prediction struct {
	enabled   bool
	protocols []string            // OpenSSL names, e.g. "TLSv1", "TLSv1.3"
	ciphers   map[string][]string // by protocol: OpenSSL suite names
	report    string
}

// predict runs tlsproxy-policy on the instance's configuration.
func predict(t *testing.T, tool string, in *instance) prediction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-c", filepath.Join(in.dir, "etc"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tlsproxy-policy: %v\n%s", err, stderr.String())
	}
	p := prediction{ciphers: map[string][]string{}, report: stdout.String()}
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "server role: enabled"):
			p.enabled = true
		case strings.HasPrefix(line, "protocols: "):
			f := strings.Fields(strings.TrimPrefix(line, "protocols: "))
			p.protocols = f[:len(f)-1] // drop "(parameter)"
		case strings.HasPrefix(line, "ciphers "):
			proto, list, _ := strings.Cut(strings.TrimPrefix(line, "ciphers "), ": ")
			if list != "none" {
				p.ciphers[proto] = strings.Fields(list)
			}
		}
	}
	if !p.enabled || len(p.protocols) == 0 {
		t.Fatalf("tlsproxy-policy predicts no TLS:\n%s", p.report)
	}
	return p
}

// goSuiteNames are the OpenSSL names of every suite Go implements.
func goSuiteNames() map[string]bool {
	names := map[string]bool{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		names[tlspolicy.OpenSSLCipherName(c.ID)] = true
	}
	return names
}
