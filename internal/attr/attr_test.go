package attr

import (
	"errors"
	"reflect"
	"testing"
)

func TestAccessors(t *testing.T) {
	l := postscreen37Request
	if v, ok := l.Get("timeout"); !ok || v != "300" {
		t.Errorf("Get(timeout) = %q, %v", v, ok)
	}
	if _, ok := l.Get("server_id"); ok {
		t.Error("Get(server_id) found something")
	}
	l2 := List{Int("timeout", 10), Str("x", ""), Int("timeout", 300)}
	if got := l2.All("timeout"); !reflect.DeepEqual(got, []string{"10", "300"}) {
		t.Errorf("All(timeout) = %q", got)
	}
	if got := l2.All("none"); got != nil {
		t.Errorf("All(none) = %q", got)
	}
	want := []string{"remote_endpoint", "flags", "timeout", "timeout", "serverid"}
	if got := l.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %q", got)
	}
}

func TestValidateAndTruncation(t *testing.T) {
	tests := []struct {
		l     List
		ok    bool
		attr0 string
		plain string
	}{
		{List{Str("a", "b")}, true, "a\x00b\x00\x00", "a=b\n\n"},
		{List{}, true, "\x00", "\n"},
		{List{Str("", "b")}, false, "\x00b\x00\x00", "=b\n\n"},
		{List{Str("{", "")}, false, "{\x00\x00\x00", "{=\n\n"},
		{List{Str("a\x00b", "c")}, false, "a\x00c\x00\x00", "a=c\n\n"},
		{List{Str("peer_CN", "evil\x00status\x001")}, false, "peer_CN\x00evil\x00\x00", "peer_CN=evil\n\n"},
	}
	for _, tc := range tests {
		err := tc.l.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.l, err, tc.ok)
		}
		if got := string(AppendList(nil, tc.l)); got != tc.attr0 {
			t.Errorf("AppendList(%q) = %q, want %q", tc.l, got, tc.attr0)
		}
		if got := string(AppendPlain(nil, tc.l)); got != tc.plain {
			t.Errorf("AppendPlain(%q) = %q, want %q", tc.l, got, tc.plain)
		}
	}
	if err := (List{Str("}", "")}).Validate(); !errors.Is(err, ErrHashUnsupported) {
		t.Errorf("Validate(}) = %v", err)
	}
	if got := AppendList([]byte("prefix"), List{Str("a", "b")}); string(got) != "prefixa\x00b\x00\x00" {
		t.Errorf("AppendList does not append: %q", got)
	}
}
