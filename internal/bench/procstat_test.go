package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields after the command: state(3) ppid(4) … utime(14) stime(15) … rss(24).
	line := func(head string) string {
		return head + " S 42 1 1 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 1 0 5 10000000 2048 18446744073709551615"
	}
	tests := []struct {
		name    string
		in      string
		want    ProcStat
		wantErr bool
	}{
		{"plain", line("123 (tlsproxy)"), ProcStat{PID: 123, PPID: 42, Comm: "tlsproxy", UTime: 250, STime: 130, RSSPages: 2048}, false},
		{"comm with space and parens", line("7 (a (b) c)"), ProcStat{PID: 7, PPID: 42, Comm: "a (b) c", UTime: 250, STime: 130, RSSPages: 2048}, false},
		{"empty", "", ProcStat{}, true},
		{"no comm", "123 tlsproxy S 1", ProcStat{}, true},
		{"bad pid", line("x (tlsproxy)"), ProcStat{}, true},
		{"short", "1 (a) S 1 2 3", ProcStat{}, true},
		{"bad utime", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0 20 0 1 0 5 1 1 1", ProcStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	p, err := ParseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.PPID != os.Getppid() || p.RSS() <= 0 {
		t.Errorf("self: %+v (pid %d, ppid %d)", p, os.Getpid(), os.Getppid())
	}
}

func TestCPUSince(t *testing.T) {
	before := Usage{Procs: map[int]ProcStat{
		1: {PID: 1, UTime: 100, STime: 50},
		2: {PID: 2, UTime: 10},
	}}
	after := Usage{Procs: map[int]ProcStat{
		1: {PID: 1, UTime: 130, STime: 70, RSSPages: 1}, // +50 ticks
		3: {PID: 3, UTime: 5, STime: 5, RSSPages: 2},    // new: 10 ticks
	}}
	cpu, lost, _ := after.CPUSince(before)
	if cpu != 500*time.Millisecond || lost != 1 {
		// +50 and +10 ticks, less the 10 of process 2 before it ended
		// (its reaped time is not in after.Reaped here).
		t.Errorf("CPUSince = %v, %d lost; want 500ms, 1", cpu, lost)
	}
	// Process 2 ended with 30 ticks, master reaped it, and an anvil
	// that master reaped too: 30 of the reaped time are tlsproxy's.
	before.Reaped, before.Others = time.Second, map[int]string{9: "anvil", 10: "qmgr"}
	after.Reaped, after.Others = time.Second+400*time.Millisecond, map[int]string{10: "qmgr"}
	cpu, lost, others := after.CPUSince(before)
	if cpu != 900*time.Millisecond || lost != 1 || len(others) != 1 || others[0] != "anvil" {
		t.Errorf("CPUSince = %v, %d lost, others %v; want 900ms, 1, [anvil]", cpu, lost, others)
	}
	if got := after.RSS(); got != 3*int64(os.Getpagesize()) {
		t.Errorf("RSS = %d", got)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("123 (tlsproxy) S 42 1 1 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 1 0 5 10000000 2048 1"))
	f.Add([]byte("7 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 1 1 1"))
	f.Add([]byte("1 () S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseStat(b)
		if err == nil && (p.PID < 0 || p.RSSPages < 0) {
			t.Errorf("accepted negative values: %+v", p)
		}
	})
}

// TestSelfCPU: the load client's CPU time grows with work it does.
func TestSelfCPU(t *testing.T) {
	before := selfCPU()
	x := uint64(1)
	for i := 0; i < 50_000_000 && selfCPU()-before < 2*time.Millisecond; i++ {
		for j := 0; j < 1000; j++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if got := selfCPU() - before; got < 2*time.Millisecond {
		t.Errorf("self CPU grew by %v after a busy loop (x=%d), want at least 2ms", got, x)
	}
}
