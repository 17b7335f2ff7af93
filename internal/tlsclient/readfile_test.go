package tlsclient

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlspolicy"
)

// Files named by a request: only regular files, within the size limits;
// a FIFO or device in CApath is never opened.
func TestBoundedFileReads(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(maxFileBytes + 1); err != nil { // sparse: nothing is written
		t.Fatal(err)
	}
	fh.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	capath := filepath.Join(dir, "capath")
	if err := os.Mkdir(capath, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(capath, "0a1b2c3d.0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.caFile, filepath.Join(capath, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		set   Settings
		fails bool
		roots int
	}{
		{"device", Settings{CAfile: "/dev/zero"}, true, 0},
		{"FIFO", Settings{CAfile: fifo}, true, 0},
		{"too large", Settings{CAfile: big}, true, 0},
		{"directory", Settings{CAfile: dir}, true, 0},
		{"FIFO as certificate", Settings{CertFile: fifo, KeyFile: fifo}, true, 0},
		{"FIFO in chain files", Settings{ChainFiles: fifo}, true, 0},
		{"CApath with a FIFO and a link", Settings{CApath: capath}, false, 1},
		{"CAfile", Settings{CAfile: f.caFile}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.set, logs.Discard)
			if (err != nil) != tt.fails {
				t.Fatalf("err = %v, want failure %v", err, tt.fails)
			}
			var ca *tlspolicy.CAError
			if tt.set.CAfile != "" && err != nil && !errors.As(err, &ca) {
				t.Errorf("CAfile error %v is no CAError", err)
			}
			if err == nil && len(c.roots) != tt.roots {
				t.Errorf("%d roots, want %d", len(c.roots), tt.roots)
			}
		})
	}
}
