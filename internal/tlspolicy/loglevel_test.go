package tlspolicy

import (
	"errors"
	"testing"

	"tlsproxy/internal/logs"
)

func TestParseLogLevel(t *testing.T) {
	tests := []struct {
		in   string
		want LogMask
		bad  string // unknown keyword expected
	}{
		{"", LogNone, ""},
		{"0", LogNone, ""},
		{"none", LogNone, ""},
		{"1", LogSummary, ""},
		{"routine", LogSummary, ""},
		{"2", LogSummary | LogVerbose | LogCache | LogDebug, ""},
		{"DEBUG", LogSummary | LogVerbose | LogCache | LogDebug, ""},
		{"3", LogSummary | LogVerbose | LogCache | LogDebug | LogTLSPkts, ""},
		{"ssl-expert", LogLevel3, ""},
		{"4", LogLevel3 | LogAllPkts, ""},
		{"9", LogLevel4, ""},
		{"ssl-developer", LogLevel4, ""},
		{"routine,certmatch", LogSummary | LogCertMatch, ""},
		{"summary untrusted\tpeercert", LogSummary | LogUntrusted | LogPeerCert, ""},
		{"verbose, cache, dane, ssl-debug", LogVerbose | LogCache | LogDane | LogDebug, ""},
		{"ssl-handshake-packet-dump", LogTLSPkts, ""},
		{"ssl-session-packet-dump", LogTLSPkts | LogAllPkts, ""},
		{"1 none", LogSummary, ""},
		{"10", 0, "10"},
		{"-1", 0, "-1"},
		{"routine:certmatch", 0, "routine:certmatch"}, // colon is not a separator here
		{"1, bogus", 0, "bogus"},
		{"1, trace", LogSummary | LogTrace, ""}, // 3.12: a keyword, not an unknown one
	}
	for _, tt := range tests {
		got, err := ParseLogLevel(tt.in)
		if tt.bad != "" {
			var le *LogLevelError
			if !errors.As(err, &le) || le.Value != tt.bad || got != 0 {
				t.Errorf("ParseLogLevel(%q) = %v, %v; want error for %q", tt.in, got, err, tt.bad)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLogLevel(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
		}
	}
	_, err := ParseLogLevel("1 bogus")
	if w := err.(*LogLevelError).Warning("tlsproxy_tls_loglevel"); w != `unknown tlsproxy_tls_loglevel value "bogus" in "1 bogus"` {
		t.Errorf("warning = %q", w)
	}
}

func FuzzParseLogLevel(f *testing.F) {
	for _, s := range []string{"", "0", "1", "routine,certmatch", "ssl-session-packet-dump", "x y", "4 9,DEBUG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseLogLevel(s)
		if err != nil && m != 0 {
			t.Fatalf("mask %#x with error %v", m, err)
		}
		if m&^(LogLevel4|LogUntrusted|LogPeerCert|LogCertMatch|LogDane) != 0 {
			t.Fatalf("unknown bits in %#x", m)
		}
	})
}

// TestDropTrace: "trace" keeps the rest of the level and is warned about
// once per parameter and level.
func TestDropTrace(t *testing.T) {
	var lines []string
	log := logs.Lines(func(l string) { lines = append(lines, l) })
	for range 2 {
		mask, err := ParseLogLevel("routine, trace")
		if err != nil {
			t.Fatal(err)
		}
		if got := DropTrace(mask, "test_tls_loglevel", "routine, trace", log); got != LogSummary {
			t.Errorf("mask %v, want %v", got, LogSummary)
		}
	}
	want := []string{`test_tls_loglevel: ignoring "trace" log level: SSL_trace() is not available in this build`}
	if len(lines) != 1 || lines[0] != want[0] {
		t.Errorf("warnings %q, want %q", lines, want)
	}
}
