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
	for _, args := range [][]string{nil, {"-socket", "/x"}, {"-n", "3"}, {"-socket", "/x", "-n", "1", "-version", "bogus"},
		{"-socket", "/x", "-n", "1", "-server-cert", "/nonexistent/cert.pem", "-server-key", "/nonexistent/key.pem"}} {
		if err := RunIdleWorker(context.Background(), args, strings.NewReader(""), &strings.Builder{}); err == nil {
			t.Errorf("RunIdleWorker(%q) accepted", args)
		}
	}
}

func TestWorkerArgs(t *testing.T) {
	server := workerArgs{socket: "/s", version: DefaultVersion, n: 5, conc: 0}
	client := server
	client.cert, client.logLevel = CertFiles{Cert: "/c.pem", Key: "/k.pem"}, "1"
	tests := []struct {
		args workerArgs
		want string
	}{
		{server, "-socket /s -version 3.7.11 -n 5 -conc 1"},
		{client, "-socket /s -version 3.7.11 -n 5 -conc 1 -server-cert /c.pem -server-key /k.pem -log-level 1"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.args.flags(), " "); got != tt.want {
			t.Errorf("flags() = %q, want %q", got, tt.want)
		}
	}
}
