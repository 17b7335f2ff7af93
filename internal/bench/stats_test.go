package bench

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, math.NaN()},
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		got := Median(tt.in)
		if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 || xs[1] != 1 {
		t.Errorf("Median reordered its input: %v", xs)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 … 1, unsorted
	}
	tests := []struct {
		in   []float64
		p    float64
		want float64
	}{
		{nil, 50, math.NaN()},
		{[]float64{1, 2}, 0, math.NaN()},
		{[]float64{1, 2}, 101, math.NaN()},
		{[]float64{7}, 99, 7},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{hundred, 0.5, 1},
		{[]float64{10, 20, 30}, 50, 20},
		{[]float64{10, 20, 30}, 99, 30},
	}
	for _, tt := range tests {
		got := Percentile(tt.in, tt.p)
		if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tt.in), tt.p, got, tt.want)
		}
	}
}

func TestMicros(t *testing.T) {
	got := Micros([]time.Duration{1500 * time.Nanosecond, 2 * time.Millisecond})
	if len(got) != 2 || got[0] != 1.5 || got[1] != 2000 {
		t.Errorf("Micros = %v", got)
	}
}
