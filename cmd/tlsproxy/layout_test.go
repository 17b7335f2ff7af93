package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// goPackage is the part of "go list -json" this test reads.
type goPackage struct {
	ImportPath string
	Doc        string
	Standard   bool
	Deps       []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command("go", "list", "-json", "tlsproxy/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestPackageDocs: every package says what it is for.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// TestDependencies keeps the module on the standard library plus
// golang.org/x/sys, and keeps low-level packages away from what they must
// not need.
func TestDependencies(t *testing.T) {
	forbidden := map[string][]string{
		"tlsproxy/internal/attr":    {"net", "crypto/", "tlsproxy/internal/"},
		"tlsproxy/internal/conf":    {"net", "crypto/", "tlsproxy/internal/"},
		"tlsproxy/internal/master":  {"crypto/tls", "tlsproxy/internal/attr", "tlsproxy/internal/proxy"},
		"tlsproxy/internal/fdpass":  {"crypto/", "tlsproxy/internal/"},
		"tlsproxy/internal/jail":    {"crypto/tls", "tlsproxy/internal/"},
		"tlsproxy/internal/maillog": {"crypto/", "tlsproxy/internal/"},
		"tlsproxy/internal/daemon":  {"crypto/tls", "tlsproxy/internal/attr"},
		"tlsproxy/internal/sockio":  {"crypto/", "tlsproxy/internal/"},
		"tlsproxy/internal/logs":    {"net", "crypto/", "tlsproxy/internal/"},
	}
	// sockio is a leaf of raw socket calls, logs the one logger
	// interface; every low-level package may use them.
	leaf := map[string]bool{"tlsproxy/internal/sockio": true, "tlsproxy/internal/logs": true}
	for _, p := range listPackages(t) {
		for _, d := range p.Deps {
			if !strings.Contains(strings.Split(d, "/")[0], ".") || strings.HasPrefix(d, "tlsproxy/") ||
				strings.HasPrefix(d, "golang.org/x/sys/") || strings.HasPrefix(d, "vendor/") {
				// standard library, ours, or x/sys
			} else {
				t.Errorf("%s depends on %s: only the standard library and golang.org/x/sys are allowed", p.ImportPath, d)
			}
			if leaf[d] {
				continue
			}
			for _, bad := range forbidden[p.ImportPath] {
				if d == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad)) {
					t.Errorf("%s must not depend on %s", p.ImportPath, d)
				}
			}
		}
	}
}

// testOnly are the packages that exist for tests and measurements; the
// tools that use them are in tools.
var (
	testOnly = []string{"testing", "tlsproxy/internal/bench", "tlsproxy/internal/pfclient",
		"tlsproxy/internal/pftest", "tlsproxy/internal/pftest/leak"}
	tools = map[string]bool{
		"tlsproxy/cmd/tlsproxy-bench": true, "tlsproxy/cmd/tlsproxy-soak": true,
		"tlsproxy/internal/bench": true, "tlsproxy/internal/pfclient": true,
		"tlsproxy/internal/pftest": true, "tlsproxy/internal/pftest/leak": true,
		"tlsproxy/internal/interop": true,
	}
)

// TestProductDependencies: what ships (the daemon, tlsproxy-policy and the
// packages they are made of) never imports a test or measuring package,
// nor the testing package.
func TestProductDependencies(t *testing.T) {
	checked := 0
	for _, p := range listPackages(t) {
		if p.Standard || tools[p.ImportPath] {
			continue
		}
		checked++
		for _, d := range p.Deps {
			for _, bad := range testOnly {
				if d == bad {
					t.Errorf("%s depends on %s, which is for tests and measurements only", p.ImportPath, d)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d product packages checked", checked)
	}
}
