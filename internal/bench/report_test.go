package bench

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// sampleReport is a fixed report with every kind of figure: met and missed
// goals in both directions, a figure without C (quick mode), client-role
// rows and notes.
func sampleReport() *Report {
	r := &Report{Started: time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC), Seconds: 321, Machine: "test CPU, 2 CPUs",
		Go: "go1.26", Ours: "/tmp/tlsproxy", C: "/usr/lib/postfix/sbin/tlsproxy", Rounds: 2}
	r.Define(Figure{Key: "hs", Title: "full handshakes, TLS 1.3, ECDSA P-256, 64 conc.", Unit: "hs/s", Better: Higher, Goal: 1})
	r.Define(Figure{Key: "cpu", Title: "CPU per full handshake, TLS 1.3, RSA-2048, 64 conc.", Unit: "µs", Better: Lower, Goal: 1})
	r.Define(Figure{Key: "mem", Title: "RSS per idle session, 10,000 sessions", Unit: "KiB", Better: Lower, Goal: 0.5})
	r.Define(Figure{Key: "bulk", Title: "bulk relay, inbound, 1 session(s), TLS 1.3", Unit: "MB/s", Better: Higher, Goal: 1})
	r.Define(Figure{Key: "client/hs/1.3/c64", Title: "client role: full handshakes, TLS 1.3, 64 conc.", Unit: "hs/s", Better: Higher, Goal: 1})
	r.Define(Figure{Key: "client/bulk/outbound/1", Title: "client role: bulk relay, outbound, 1 session(s), TLS 1.3", Unit: "MB/s", Better: Higher, Goal: 1})
	r.Define(Figure{Key: "client/mem/1000", Title: "client role: RSS per idle session, 1,000 sessions", Unit: "KiB", Better: Lower, Goal: 0.5})
	for _, s := range []struct {
		key string
		c   bool
		v   float64
	}{
		{"hs", false, 2400}, {"hs", true, 2000}, {"hs", false, 2600}, {"hs", true, 2200},
		{"cpu", false, 1210}, {"cpu", true, 640}, {"cpu", false, 1190}, {"cpu", true, 660},
		{"mem", false, 18.5}, {"mem", true, 39.2},
		{"bulk", false, 812.25},
		{"lat", false, 0.0425}, {"lat", true, 0.05},
		{"client/hs/1.3/c64", false, 980}, {"client/hs/1.3/c64", true, 1010},
		{"client/bulk/outbound/1", false, 510}, {"client/bulk/outbound/1", true, 180},
		{"client/mem/1000", false, 20.5}, {"client/mem/1000", true, 51.25},
	} {
		r.Add(s.key, s.c, s.v)
	}
	r.Note("mem", "C: per session of the 9,990 sessions it held")
	r.Note("mem", "C: per session of the 9,990 sessions it held") // once only
	r.Note("client/hs/1.3/c64", "ours negotiated CurveP256")
	r.Notes = []string{"machine was busy"}
	r.Summarise()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	pftest.Golden(t, name, string(got), *pftest.Update)
}

func TestReportGolden(t *testing.T) {
	r := sampleReport()
	golden(t, "table.golden", []byte(r.Table()))
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json.golden", js)
	golden(t, "chart.svg.golden", r.SVG())
}

func TestSummarise(t *testing.T) {
	r := sampleReport()
	want := map[string]struct {
		ratio float64 // NaN: none
		met   string  // "", "yes", "no"
	}{
		"hs":   {2500.0 / 2100, "yes"},
		"cpu":  {1200.0 / 650, "no"},
		"mem":  {18.5 / 39.2, "yes"},
		"bulk": {math.NaN(), ""},
		"lat":  {0.85, ""},

		"client/hs/1.3/c64":      {980.0 / 1010, "no"},
		"client/bulk/outbound/1": {510.0 / 180, "yes"},
		"client/mem/1000":        {20.5 / 51.25, "yes"},
	}
	for _, f := range r.Figures {
		w := want[f.Key]
		switch {
		case math.IsNaN(w.ratio) && f.Ratio != nil:
			t.Errorf("%s: ratio %v, want none", f.Key, *f.Ratio)
		case !math.IsNaN(w.ratio) && (f.Ratio == nil || math.Abs(*f.Ratio-w.ratio) > 1e-9):
			t.Errorf("%s: ratio %v, want %v", f.Key, f.Ratio, w.ratio)
		}
		met := ""
		if f.GoalMet != nil {
			met = map[bool]string{true: "yes", false: "no"}[*f.GoalMet]
		}
		if met != w.met {
			t.Errorf("%s: goal met %q, want %q", f.Key, met, w.met)
		}
	}
	if adv := r.Figure("cpu").Advantage(); math.Abs(adv-650.0/1200) > 1e-9 {
		t.Errorf("cpu advantage %v", adv)
	}
	if adv := r.Figure("bulk").Advantage(); !math.IsNaN(adv) {
		t.Errorf("bulk advantage %v, want NaN", adv)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	js, err := sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Figures) != 8 || back.Figures[0].Ratio == nil || back.Figures[3].CMedian != nil || back.Figures[7].Key != "client/mem/1000" {
		t.Errorf("round trip lost data: %+v", back.Figures)
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{math.NaN(), "-"}, {0, "0.000"}, {0.04251, "0.043"}, {1.234, "1.23"}, {12.34, "12.3"},
		{123.4, "123"}, {1234.5, "1,234"}, {1234567, "1,234,567"}, {-2345, "-2,345"}, {-12.5, "-12.5"},
	}
	for _, tt := range tests {
		if got := Num(tt.in); got != tt.want {
			t.Errorf("Num(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTableColumnsAligned(t *testing.T) {
	lines := strings.Split(sampleReport().Table(), "\n")
	col := len([]rune(lines[0][:strings.Index(lines[0], "unit")]))
	for _, l := range append(lines[2:6], lines[7:10]...) { // the figure rows with a unit
		r := []rune(l)
		if len(r) <= col || r[col-1] != ' ' || r[col] == ' ' {
			t.Errorf("unit does not start in column %d: %q", col, l)
		}
	}
}
