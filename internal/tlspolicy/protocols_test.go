package tlspolicy

import (
	"crypto/tls"
	"errors"
	"testing"
)

func TestParseProtocols(t *testing.T) {
	const (
		v10 = tls.VersionTLS10
		v11 = tls.VersionTLS11
		v12 = tls.VersionTLS12
		v13 = tls.VersionTLS13
	)
	tests := []struct {
		list     string
		min, max uint16
		holes    bool
		bad      string // expected ProtocolError.Token; "-" = no version left
	}{
		{list: "", min: v10, max: v13},
		{list: "  ,: ", min: v10, max: v13},
		{list: ">=TLSv1", min: v10, max: v13},
		{list: ">=TLSv1.2", min: v12, max: v13},
		{list: "<=TLSv1.2", min: v10, max: v12},
		{list: ">=TLSv1.1 <=TLSv1.2", min: v11, max: v12},
		{list: ">=None,<=None", min: v10, max: v13},
		{list: ">=", min: v10, max: v13}, // empty value = 0 = no bound, like strtoul
		{list: ">=SSLv3", min: v10, max: v13},
		{list: "!SSLv2, !SSLv3", min: v10, max: v13},
		{list: "!SSLv2:!SSLv3:!TLSv1", min: v11, max: v13},
		{list: "TLSv1.2 TLSv1.3", min: v12, max: v13},
		{list: "TLSv1.2", min: v12, max: v12},
		{list: "SSLv3, TLSv1", min: v10, max: v10},
		{list: "!TLSv1.3", min: v10, max: v12},
		{list: "!TLSv1.1", min: v10, max: v13, holes: true},
		{list: "TLSv1 TLSv1.3", min: v10, max: v13, holes: true},
		{list: ">=303", min: v12, max: v13},
		{list: ">=0303", min: v12, max: v13},
		{list: ">=0x303", min: v12, max: v13},
		{list: ">=0x0304", min: v13, max: v13},
		{list: "<=0X302", min: v10, max: v11},
		{list: ">=0x305", min: v10, max: v13}, // unknown to OpenSSL: bound ignored
		{list: "<=1", min: v10, max: v13},
		{list: ">=TLSv1.2 !TLSv1.2", min: v13, max: v13},
		{list: "tlsv1.2", bad: "tlsv1.2"},
		{list: "TLSv1.0", bad: "TLSv1.0"},
		{list: "!TLSv1.0", bad: "!TLSv1.0"},
		{list: "!", bad: "!"},
		{list: ">=TLSv2", bad: ">=TLSv2"},
		{list: ">= TLSv1", min: v10, max: v10}, // ">=" alone = no bound; "TLSv1" is an include
		{list: "=>TLSv1", bad: "=>TLSv1"},
		{list: ">=0x", bad: ">=0x"},
		{list: ">=0xffffffff", bad: ">=0xffffffff"},
		{list: "SSLv2", bad: "-"},
		{list: "SSLv3", bad: "-"},
		{list: "<=SSLv3", bad: "-"},
		{list: ">=TLSv1.3 <=TLSv1.2", bad: "-"},
		{list: "!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", bad: "-"},
	}
	for _, tt := range tests {
		min, max, err := ParseProtocols(tt.list)
		if tt.bad != "" {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("ParseProtocols(%q) err = %v, want ProtocolError", tt.list, err)
				continue
			}
			if want := tt.bad; (want == "-" && pe.Token != "") || (want != "-" && pe.Token != want) {
				t.Errorf("ParseProtocols(%q) bad token %q, want %q", tt.list, pe.Token, want)
			}
			continue
		}
		if err != nil || min != tt.min || max != tt.max {
			t.Errorf("ParseProtocols(%q) = %#x, %#x, %v; want %#x, %#x", tt.list, min, max, err, tt.min, tt.max)
			continue
		}
		set, _ := parseProtocolSet(tt.list)
		if set.hasHoles() != tt.holes {
			t.Errorf("parseProtocolSet(%q) holes = %v, want %v", tt.list, set.hasHoles(), tt.holes)
		}
	}
}

func FuzzParseProtocols(f *testing.F) {
	for _, s := range []string{"", ">=TLSv1", "!SSLv2, !SSLv3", "TLSv1.2 TLSv1.3", "<=0x0303", ">=", "!", "TLSv1:!TLSv1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		min, max, err := ParseProtocols(s)
		if err != nil {
			if min != 0 || max != 0 {
				t.Fatalf("error with versions %#x..%#x", min, max)
			}
			return
		}
		if min < tls.VersionTLS10 || max > tls.VersionTLS13 || min > max {
			t.Fatalf("ParseProtocols(%q) = %#x..%#x", s, min, max)
		}
		set, err := parseProtocolSet(s)
		if err != nil || !set.has(min) || !set.has(max) {
			t.Fatalf("set %b inconsistent with %#x..%#x (%v)", set, min, max, err)
		}
	})
}
