package logs

import (
	"slices"
	"testing"
)

func TestLines(t *testing.T) {
	var got []string
	var l Logger = Lines(func(s string) { got = append(got, s) })
	l.Infof("a %d", 1)
	l.Warnf("b %s", "x")
	l.Fatalf("c")
	l.Errorf("c2")
	OrDiscard(nil).Warnf("dropped")
	Discard.Infof("dropped")
	p := Prefixed(l, "peer")
	p.Infof("d")
	p.Warnf("e %d%%", 5)
	p.Fatalf("f")
	p.Errorf("g")
	if want := []string{"a 1", "b x", "c", "c2", "peer: d", "peer: e 5%", "peer: f", "peer: g"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if OrDiscard(l) == nil {
		t.Error("OrDiscard(l) is nil")
	}
}
