package interop

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tlsproxy/internal/fdclose"
)

// TestSoakShort is the CI setting of the soak:
// cmd/tlsproxy-soak drives STARTTLS sessions through postscreen and our
// tlsproxy for 20 s; no session may fail, tlsproxy may log no warning,
// fatal error or panic, and its descriptors must not pile up. The long
// setting is scripts/soak.sh (10 minutes by default).
func TestSoakShort(t *testing.T) {
	requireInterop(t)
	in := instanceFor(t, impl{"ours", ourBinary}, false)
	dir := t.TempDir()
	soakBin, err := goBuild(moduleRoot(t), dir, "tlsproxy-soak")
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "soak.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, soakBin, "-instance", in.dir, "-duration", "20s",
		"-concurrency", "8", "-interval", "5s", "-json", report)
	out, err := cmd.CombinedOutput()
	t.Logf("tlsproxy-soak:\n%s", out)
	if err != nil {
		t.Errorf("tlsproxy-soak: %v", err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Sessions, Failed    int64
		BytesUp             int64 `json:"bytes_up"`
		BytesDown           int64 `json:"bytes_down"`
		Errors              map[string]int64
		LogWarnings         int `json:"log_warnings"`
		LogFatal            int `json:"log_fatal"`
		LogHandshakeFailure int `json:"log_handshake_failed"`
		Samples             []struct {
			Procs int   `json:"procs"`
			RSS   int64 `json:"rss_kib"`
			FDs   int   `json:"fds"`
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Sessions < 20 || r.Failed != 0 || len(r.Errors) != 0 {
		t.Errorf("%d sessions, %d failed %v; want at least 20 and none failed", r.Sessions, r.Failed, r.Errors)
	}
	if r.LogWarnings != 0 || r.LogFatal != 0 || r.LogHandshakeFailure != 0 {
		t.Errorf("tlsproxy logged %d warnings, %d fatal/panic, %d handshake failures", r.LogWarnings, r.LogFatal, r.LogHandshakeFailure)
	}
	// Descriptors: listening and status sockets, the log socket, and one
	// plaintext and one remote socket per open session (8 at most), per
	// process; and the ended sessions' descriptors that wait for
	// internal/fdclose's next flush (bounded: a leak would grow with the
	// thousands of sessions).
	for _, s := range r.Samples {
		if s.FDs > s.Procs*(16+2*8+2*fdclose.MaxPending) {
			t.Errorf("sample %+v: too many descriptors", s)
		}
	}
	t.Logf("soak figures: %d sessions, %d bytes up, %d bytes down, every reply checked", r.Sessions, r.BytesUp, r.BytesDown)
}
