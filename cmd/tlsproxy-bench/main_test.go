package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickSmoke runs the whole tool in -quick mode against our tlsproxy
// only, under a real Debian master(8). It needs root and the postfix
// package; elsewhere it is skipped.
func TestQuickSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (master(8), private/ is mode 0700)")
	}
	for _, f := range []string{"/usr/lib/postfix/sbin/master", "/usr/sbin/postfix"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("postfix not installed (%v): run scripts/install-deps.sh", err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "tlsproxy-bench-test.")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tlsproxy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tlsproxy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	jsonPath, svgPath := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"-quick", "-c", "", "-ours", bin, "-dir", filepath.Join(dir, "work"),
		"-pfinstance", filepath.Join(root, "scripts", "pfinstance.sh"), "-json", jsonPath, "-svg", svgPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"full sessions/s, TLS 1.3", "CPU per full session, all tlsproxy processes", "resumed sessions/s", "session setup p99", "bulk relay", "added round-trip latency", "RSS per idle session", "RSS of all tlsproxy processes",
		"client role: full handshakes", "client role: bulk relay", "client role: RSS per idle session"} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q row:\n%s", want, out)
		}
	}
	var rep struct {
		Figures []struct {
			Key  string
			Ours []float64
			C    []float64
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Figures) < 8 {
		t.Errorf("%d figures in the JSON", len(rep.Figures))
	}
	for _, f := range rep.Figures {
		if len(f.Ours) != 1 || len(f.C) != 0 {
			t.Errorf("%s: ours %v, C %v; want one sample of ours only", f.Key, f.Ours, f.C)
		}
		if (strings.HasPrefix(f.Key, "hs/") || strings.HasPrefix(f.Key, "client/hs/")) && f.Ours[0] <= 0 {
			t.Errorf("%s: no handshakes", f.Key)
		}
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg ")) {
		t.Errorf("SVG: %v %.40q", err, svg)
	}
	t.Logf("%s", out)
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "-ours is required"},
		{[]string{"-ours", "x", "-idle", "10,zero"}, "-idle"},
		{[]string{"-ours", "x", "-client-idle", "-5"}, "-client-idle"},
		{[]string{"-ours", "x", "-postfix", "not-a-version"}, "-postfix"},
		{[]string{"-ours", "x", "-only", "("}, "-only"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want error containing %q", tt.args, err, tt.want)
		}
	}
}
