package pfversion

import "testing"

func TestTLSLog(t *testing.T) {
	brief, details, groups := TLSLog{}, TLSLog{Details: true}, TLSLog{Details: true, GroupNames: true}
	for _, tc := range []struct {
		v    string
		want TLSLog
	}{
		{"2.8.0", brief},
		{"2.11.11", brief},
		{"3.3.22", brief},
		{"3.4.0", details},
		{"3.7.11", details},
		{"3.9.14", details},
		{"3.10-20240901", details},
		{"3.10-20240923", groups},
		{"3.10.0", groups},
		{"3.10.13", groups},
		{"3.11.6", groups},
		{"3.12-20260821", groups},
	} {
		if got := MustParse(tc.v).TLSLog(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.v, got, tc.want)
		}
	}
	if got := (Version{}).TLSLog(); got != details {
		t.Errorf("unknown release: %+v, want 3.7's", got)
	}
}
