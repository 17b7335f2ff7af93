package bench

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestPlan pins the steps and the figures they define, in the full and
// the quick plan, with and without the one-process step.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"full", Options{Idle: []int{1000, 10000}, CIdle: []int{1000}}},
		{"quick", Options{Quick: true, Idle: []int{100}, CIdle: []int{100}}},
		{"one-process", Options{Idle: []int{1000}, OneProcess: 9900}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{opt: tc.opt, rep: &Report{}}
			var b strings.Builder
			for _, st := range r.plan() {
				fmt.Fprintf(&b, "step %q cert=%s rounds=%d\n", st.name, st.cert, st.rounds)
			}
			keys := make([]string, 0, len(r.rep.template))
			for k := range r.rep.template {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				f := r.rep.template[k]
				fmt.Fprintf(&b, "figure %s %q unit=%s better=%v goal=%v\n", f.Key, f.Title, f.Unit, f.Better, f.Goal)
			}
			golden(t, "plan-"+tc.name+".golden", []byte(b.String()))
		})
	}
}
