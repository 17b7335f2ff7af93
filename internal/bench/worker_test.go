package bench

import (
	"context"
	"strings"
	"testing"
)

func TestParseHeld(t *testing.T) {
	tests := []struct {
		line       string
		held, errs int
		first      string
		wantErr    bool
	}{
		{`held 10 0 ""`, 10, 0, "", false},
		{`held 9995 5 "connect: resource temporarily unavailable"`, 9995, 5, "connect: resource temporarily unavailable", false},
		{`held x 0 ""`, 0, 0, "", true},
		{`held 1 y ""`, 0, 0, "", true},
		{`held 1 0 unquoted`, 0, 0, "", true},
		{`held 1 0`, 0, 0, "", true},
	}
	for _, tt := range tests {
		f := strings.SplitN(tt.line, " ", 4)[1:]
		held, errs, first, err := ParseHeld(f)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (held != tt.held || errs != tt.errs || first != tt.first) {
			t.Errorf("%q: got %d %d %q", tt.line, held, errs, first)
		}
	}
}

func TestRunIdleWorkerArgs(t *testing.T) {
	for _, args := range [][]string{nil, {"-socket", "/x"}, {"-n", "3"}, {"-socket", "/x", "-n", "1", "-version", "bogus"}} {
		if err := RunIdleWorker(context.Background(), args, strings.NewReader(""), &strings.Builder{}); err == nil {
			t.Errorf("RunIdleWorker(%q) accepted", args)
		}
	}
}
