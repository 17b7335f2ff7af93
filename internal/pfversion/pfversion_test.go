package pfversion

import (
	"testing"
)

func TestParseAndShapes(t *testing.T) {
	tests := []struct {
		in   string
		gen  Generation
		ctx  int
		text string
	}{
		{"2.8.0", G1, 9, "2.8.0"},
		{"2.8", G1, 9, "2.8.0"},
		{"2.11.11", G2, 9, "2.11.11"},
		{"3.0.14", G2, 9, "3.0.14"},
		{"3.0.15", G2, 21, "3.0.15"},
		{"3.2.15", G2, 21, "3.2.15"},
		{"3.3.1", G2, 9, "3.3.1"},
		{"3.3.2", G2, 21, "3.3.2"},
		{"3.3.22", G2, 21, "3.3.22"},
		{"3.4.0", G3, 21, "3.4.0"},
		{"3.5.20", G3, 21, "3.5.20"},
		{"3.6.0", G4, 22, "3.6.0"},
		{"3.7.11", G4, 22, "3.7.11"},
		{"v3.8.20", G4, 22, "3.8.20"},
		{"3.9.14", G4, 24, "3.9.14"},
		{"3.10.0", G4, 25, "3.10.0"},
		{"3.11.6", G4, 25, "3.11.6"},
		{"3.12-20260416", G4, 25, "3.12-20260416"},
		{"3.12-20260423", G5, 25, "3.12-20260423"},
		{"3.12-20260513", G5, 25, "3.12-20260513"},
		{"postfix-3.12-20260821", G5, 26, "3.12-20260821"},
		{"3.12.0", G5, 26, "3.12.0"},
	}
	for _, tt := range tests {
		v, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if g := v.Generation(); g != tt.gen {
			t.Errorf("%s: generation %v, want %v", tt.in, g, tt.gen)
		}
		if n := v.ContextLen(); n != tt.ctx {
			t.Errorf("%s: context %d, want %d", tt.in, n, tt.ctx)
		}
		if v.String() != tt.text {
			t.Errorf("%s: String %q, want %q", tt.in, v.String(), tt.text)
		}
		if names := ContextNames(tt.ctx); len(names) != tt.ctx {
			t.Errorf("ContextNames(%d) has %d names", tt.ctx, len(names))
		}
	}
	for _, bad := range []string{"", "3", "2.7.1", "3.x", "3.12-2026", "3.12.1-20260101", "1.1.1", "3.-1", "3.7.+1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestContextNamesShapes(t *testing.T) {
	// Spot checks against the spec tables: 3.6+ has level fifth, 3.9
	// puts the rpk pair after key_exchange_bits, 3.10 ends in
	// rpt_reported, 3.12 in trace_size_limit.
	if n := ContextNames(22); n[4] != "level" || n[21] != "namaddr" {
		t.Errorf("22: %v", n)
	}
	if n := ContextNames(21); n[4] != "peer_status" || n[20] != "namaddr" {
		t.Errorf("21: %v", n)
	}
	if n := ContextNames(24); n[13] != "ctos_rpk" || n[14] != "stoc_rpk" {
		t.Errorf("24: %v", n)
	}
	if n := ContextNames(25); n[24] != "rpt_reported" {
		t.Errorf("25: %v", n)
	}
	if n := ContextNames(26); n[25] != "trace_size_limit" {
		t.Errorf("26: %v", n)
	}
	if ContextNames(23) != nil {
		t.Error("ContextNames(23) != nil")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"3.7.11", "3.12-20260821", "2.8", "postfix-3.12-20260423"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		w, err := Parse(v.String())
		if err != nil || w != v {
			t.Fatalf("%q -> %v -> %v, %v", s, v, w, err)
		}
		_ = v.Generation()
		if ContextNames(v.ContextLen()) == nil {
			t.Fatalf("%v: no names for context length %d", v, v.ContextLen())
		}
	})
}
