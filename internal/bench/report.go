package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Better says which way a figure improves.
type Better string

const (
	Higher Better = "higher"
	Lower  Better = "lower"
)

// Figure is one measured quantity for each implementation (ours, Debian
// 12's C tlsproxy and, when measured, Debian 13's): one sample per round
// each, summarised by the median.
type Figure struct {
	Key    string    `json:"key"`
	Title  string    `json:"title"`
	Unit   string    `json:"unit"`
	Better Better    `json:"better"`
	Goal   float64   `json:"goal,omitempty"` // on ours/C: ≥ Goal if Higher, ≤ Goal if Lower; 0 = none
	Ours   []float64 `json:"ours"`
	C      []float64 `json:"c"`
	C13    []float64 `json:"c13,omitempty"` // Debian 13's C tlsproxy
	Notes  []string  `json:"notes,omitempty"`

	// Filled by Summarise.
	OursMedian *float64 `json:"ours_median,omitempty"`
	CMedian    *float64 `json:"c_median,omitempty"`
	Ratio      *float64 `json:"ratio,omitempty"`    // ours / C
	GoalMet    *bool    `json:"goal_met,omitempty"` // against every C measured
	C13Median  *float64 `json:"c13_median,omitempty"`
	Ratio13    *float64 `json:"ratio13,omitempty"` // ours / Debian 13's C
}

// Impl names one of the implementations a figure compares.
type Impl int

const (
	Ours Impl = iota
	C12       // Debian 12's C tlsproxy (the host's)
	C13       // Debian 13's C tlsproxy (in a chroot)
)

// Summarise computes the medians, the ratio and whether the goal is met.
func (f *Figure) Summarise() {
	f.OursMedian, f.CMedian, f.Ratio, f.GoalMet = finite(Median(f.Ours)), finite(Median(f.C)), nil, nil
	if f.OursMedian == nil || f.CMedian == nil || *f.CMedian == 0 {
		return
	}
	f.Ratio = finite(*f.OursMedian / *f.CMedian)
	f.C13Median, f.Ratio13 = finite(Median(f.C13)), nil
	if f.C13Median != nil && *f.C13Median != 0 {
		f.Ratio13 = finite(*f.OursMedian / *f.C13Median)
	}
	if f.Ratio != nil && f.Goal > 0 {
		met := f.meets(*f.Ratio)
		if f.Ratio13 != nil {
			met = met && f.meets(*f.Ratio13)
		}
		f.GoalMet = &met
	}
}

func (f *Figure) meets(ratio float64) bool {
	if f.Better == Lower {
		return ratio <= f.Goal
	}
	return ratio >= f.Goal
}

// Advantage is how many times better ours is than C (above 1: ours is
// ahead), whichever way the figure improves; NaN without a ratio.
func (f *Figure) Advantage() float64 {
	if f.Ratio == nil || *f.Ratio <= 0 {
		return math.NaN()
	}
	if f.Better == Lower {
		return 1 / *f.Ratio
	}
	return *f.Ratio
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Report is the whole comparison.
type Report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  string    `json:"machine"`
	Go       string    `json:"go"`
	Ours     string    `json:"ours"`
	C        string    `json:"c"`
	C13      string    `json:"c13,omitempty"`
	Rounds   int       `json:"rounds"`
	Quick    bool      `json:"quick"`
	Notes    []string  `json:"notes,omitempty"`
	Figures  []*Figure `json:"figures"`
	byKey    map[string]*Figure
	template map[string]Figure
}

// Figure returns the report's figure for key, creating it from the
// template registered with Define.
func (r *Report) Figure(key string) *Figure {
	if f, ok := r.byKey[key]; ok {
		return f
	}
	t, ok := r.template[key]
	if !ok {
		t = Figure{Key: key, Title: key, Better: Higher}
	}
	f := &t
	f.Ours, f.C = []float64{}, []float64{}
	if r.byKey == nil {
		r.byKey = map[string]*Figure{}
	}
	r.byKey[key] = f
	r.Figures = append(r.Figures, f)
	return f
}

// Define registers the title, unit, direction and goal of a figure.
func (r *Report) Define(f Figure) {
	if r.template == nil {
		r.template = map[string]Figure{}
	}
	r.template[f.Key] = f
}

// Add records one sample for ours (c false) or for Debian 12's C.
func (r *Report) Add(key string, c bool, v float64) {
	who := Ours
	if c {
		who = C12
	}
	r.AddFor(key, who, v)
}

// AddFor records one sample for one implementation.
func (r *Report) AddFor(key string, who Impl, v float64) {
	f := r.Figure(key)
	switch who {
	case C12:
		f.C = append(f.C, v)
	case C13:
		f.C13 = append(f.C13, v)
	default:
		f.Ours = append(f.Ours, v)
	}
}

// Note attaches a remark to a figure, once.
func (r *Report) Note(key, note string) {
	f := r.Figure(key)
	for _, n := range f.Notes {
		if n == note {
			return
		}
	}
	f.Notes = append(f.Notes, note)
}

// Summarise summarises every figure.
func (r *Report) Summarise() {
	for _, f := range r.Figures {
		f.Summarise()
	}
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Num formats a figure value: three significant digits for small values,
// whole numbers with thousands separators from 1,000.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		s := fmt.Sprintf("%.0f", math.Abs(v))
		var b strings.Builder
		if v < 0 {
			b.WriteByte('-')
		}
		for i, ch := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(ch)
		}
		return b.String()
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func numPtr(p *float64) string {
	if p == nil {
		return "-"
	}
	return Num(*p)
}

// Table renders the report for a terminal: one row per figure with ours,
// C, the ratio ours/C and the goal, then the notes.
func (r *Report) Table() string {
	with13 := false
	for _, f := range r.Figures {
		with13 = with13 || len(f.C13) > 0
	}
	head := []string{"figure", "unit", "ours", "C", "ours/C", "goal"}
	if with13 {
		head = []string{"figure", "unit", "ours", "C Deb12", "ours/C12", "C Deb13", "ours/C13", "goal"}
	}
	rows := [][]string{head}
	var notes []string
	for _, f := range r.Figures {
		ratio, goal := "-", ""
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *f.Ratio)
		}
		if f.Goal > 0 {
			op := "≥"
			if f.Better == Lower {
				op = "≤"
			}
			goal = fmt.Sprintf("%s%.1f", op, f.Goal)
			if f.GoalMet != nil {
				if *f.GoalMet {
					goal += " met"
				} else {
					goal += " MISSED"
				}
			}
		}
		title := f.Title
		for _, n := range f.Notes {
			notes = append(notes, fmt.Sprintf("[%d] %s: %s", len(notes)+1, f.Title, n))
			title += fmt.Sprintf(" [%d]", len(notes))
		}
		if with13 {
			ratio13 := "-"
			if f.Ratio13 != nil {
				ratio13 = fmt.Sprintf("%.2f", *f.Ratio13)
			}
			rows = append(rows, []string{title, f.Unit, numPtr(f.OursMedian), numPtr(f.CMedian), ratio, numPtr(f.C13Median), ratio13, goal})
			continue
		}
		rows = append(rows, []string{title, f.Unit, numPtr(f.OursMedian), numPtr(f.CMedian), ratio, goal})
	}
	width := make([]int, len(head))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len([]rune(cell)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(cell)))
			switch {
			case i == 0 || i == 1 || i == len(row)-1:
				b.WriteString(cell + pad)
			default:
				b.WriteString(pad + cell) // numbers right-aligned
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	fmt.Fprintf(&b, "\nmedians of up to %d round(s), ours and C alternating; goal on ours/C: ≥ where higher is better, ≤ where lower is better\n", r.Rounds)
	for _, n := range append(notes, r.Notes...) {
		b.WriteString(n + "\n")
	}
	// Trim trailing spaces of each line (the goal column is often empty).
	out := strings.Split(b.String(), "\n")
	for i := range out {
		out[i] = strings.TrimRight(out[i], " ")
	}
	return strings.Join(out, "\n")
}
