package pfclient

import (
	"strings"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// countParts splits a second list into its three structures and counts
// conversions the way a STRICT Postfix receiver does (§8.2: a FUNC such as
// ARGV, DANE or TLSRPT counts as one). It knows only the structure
// markers, not the per-version shapes, so it checks the emulator
// independently: params end at the first log_param, init has initLen
// attributes, start is the rest.
func countParts(t *testing.T, l attr.List, initLen int) (params, init, start int) {
	t.Helper()
	for params < len(l) && l[params].Name != "log_param" {
		params++
	}
	if params+initLen > len(l) {
		t.Fatalf("second list too short: %q", l.Names())
	}
	init = initLen
	inFunc := false
	for _, a := range l[params+initLen:] {
		switch a.Name {
		case "dane", "tlsrpt":
			start++
			inFunc = true
		case "argv_size":
			if !inFunc {
				start++
			}
		case "argv_value":
		case "forced_failure_type", "trace_size_limit", "trace_peer":
			inFunc = false
			start++
		default:
			if !inFunc {
				start++
			}
		}
	}
	return params, init, start
}

// shapeTable is the table of docs/protocol.md, "Structure revisions": the
// client-role counts, the context length and the server-role second list.
var shapeTable = []struct {
	version                   string
	params, init, start, ctx  int
	srvParams, srvInit, srvSt int // 0: no server-role second list
}{
	{"3.4.0", 18, 14, 14, 21, 0, 0, 0},
	{"3.5.19", 18, 14, 14, 21, 0, 0, 0},
	{"3.5.20", 20, 14, 14, 21, 0, 0, 0},
	{"3.6.0", 18, 14, 14, 22, 0, 0, 0},
	{"3.6.9", 18, 14, 14, 22, 0, 0, 0},
	{"3.6.10", 20, 14, 14, 22, 0, 0, 0},
	{"3.7.5", 18, 14, 14, 22, 0, 0, 0},
	{"3.7.6", 20, 14, 14, 22, 0, 0, 0},
	{"3.7.22", 20, 14, 14, 22, 0, 0, 0},
	{"3.8.0", 17, 14, 14, 22, 0, 0, 0},
	{"3.8.1", 19, 14, 14, 22, 0, 0, 0},
	{"3.8.20", 19, 14, 14, 22, 0, 0, 0},
	{"3.9.0", 19, 14, 15, 24, 0, 0, 0},
	{"3.9.14", 19, 14, 15, 24, 0, 0, 0},
	{"3.10.0", 19, 14, 16, 25, 0, 0, 0},
	{"3.10.13", 19, 14, 16, 25, 0, 0, 0},
	{"3.11.0", 18, 14, 16, 25, 0, 0, 0},
	{"3.11.6", 18, 14, 16, 25, 0, 0, 0},
	{"3.12-20251222", 19, 14, 16, 25, 0, 0, 0},
	{"3.12-20260127", 19, 14, 16, 25, 0, 0, 0},
	{"3.12-20260218", 18, 14, 16, 25, 0, 0, 0},
	{"3.12-20260406", 18, 14, 16, 25, 0, 0, 0},
	{"3.12-20260410", 19, 14, 16, 25, 0, 0, 0},
	{"3.12-20260416", 19, 14, 16, 25, 0, 0, 0},
	{"3.12-20260423", 19, 14, 16, 25, 20, 20, 8},
	{"3.12-20260429", 19, 14, 18, 25, 20, 20, 10},
	{"3.12-20260510", 19, 14, 18, 25, 20, 20, 10},
	{"3.12-20260514", 19, 14, 20, 26, 20, 20, 12},
	{"3.12-20260821", 19, 14, 20, 26, 20, 20, 12},
	{"3.12.0", 19, 14, 20, 26, 20, 20, 12},
}

func TestShapeTable(t *testing.T) {
	for _, tc := range shapeTable {
		v := pfversion.MustParse(tc.version)
		for _, r := range []Request{ClientRole(v, "[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25"), Finger(v, "[192.0.2.1]:25")} {
			second, ok, err := r.Second()
			if err != nil || !ok {
				t.Fatalf("%s %s: no second list: %v", tc.version, r.Program, err)
			}
			p, i, s := countParts(t, second, 14)
			if p != tc.params || i != tc.init || s != tc.start {
				t.Errorf("%s %s: client role %d+%d+%d, spec %d+%d+%d: %q", tc.version, r.Program,
					p, i, s, tc.params, tc.init, tc.start, second.Names())
			}
			if n := ContextLen(r); n != tc.ctx {
				t.Errorf("%s: context %d, spec %d", tc.version, n, tc.ctx)
			}
		}
		// With TLSRPT support (3.10+) START has one more conversion.
		if series(v) >= 310 {
			r := ClientRole(v, "[192.0.2.1]:25", "")
			r.TLSRPT = &TLSRPT{}
			second, _, _ := r.Second()
			if _, _, s := countParts(t, second, 14); s != tc.start+1 {
				t.Errorf("%s with TLSRPT: start %d, spec %d", tc.version, s, tc.start+1)
			}
		}
		srv := ServerRole(v, "[192.0.2.10]:51234")
		second, ok, err := srv.Second()
		if err != nil || ok != (tc.srvParams != 0) {
			t.Errorf("%s: server-role second list sent=%v (%v), spec %v", tc.version, ok, err, tc.srvParams != 0)
			continue
		}
		if ok {
			p, i, s := countParts(t, second, 20)
			if p != tc.srvParams || i != tc.srvInit || s != tc.srvSt {
				t.Errorf("%s: server role %d+%d+%d, spec %d+%d+%d", tc.version, p, i, s, tc.srvParams, tc.srvInit, tc.srvSt)
			}
		}
		probe, ok, err := Probe(v, "[192.0.2.10]:51234").Second()
		if ok || err != nil || probe != nil {
			t.Errorf("%s: probe sends a second list", tc.version)
		}
	}
}

// TestStartOrder checks the START items that the counts cannot see: the
// position of enable_rpk, log_param/log_level and the TLSRPT structure.
func TestStartOrder(t *testing.T) {
	names := func(version string, rpt *TLSRPT) string {
		r := ClientRole(pfversion.MustParse(version), "[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25")
		r.TLSRPT = rpt
		second, _, err := r.Second()
		if err != nil {
			t.Fatal(err)
		}
		p, _, _ := countParts(t, second, 14)
		return strings.Join(second[p+14:].Names(), " ")
	}
	const mid = "tls_level nexthop host namaddr sni serverid helo protocols cipher_grade cipher_exclusions argv_size mdalg dane"
	tests := []struct {
		version string
		rpt     *TLSRPT
		want    string
	}{
		{"3.7.11", nil, "timeout " + mid},
		{"3.9.0", nil, "timeout enable_rpk " + mid},
		{"3.10.0", nil, "timeout enable_rpk " + mid + " forced_failure_type"},
		{"3.10.0", &TLSRPT{}, "timeout enable_rpk " + mid + " tlsrpt forced_failure_type"},
		{"3.11.6", &TLSRPT{Enabled: true, PolicyStrings: []string{"a"}}, "timeout enable_rpk " + mid +
			" tlsrpt rpt_socket_name rpt_policy_domain rpt_policy_string tls_policy_type argv_size argv_value" +
			" tls_policy_domain argv_size snd_mta_addr rcv_mta_name rcv_mta_addr rcv_mta_ehlo skip_reused_hs flags" +
			" forced_failure_type"},
		{"3.12-20260429", nil, "log_param log_level timeout enable_rpk " + mid + " forced_failure_type"},
		{"3.12-20260514", &TLSRPT{}, "log_param log_level timeout enable_rpk " + mid +
			" tlsrpt forced_failure_type trace_size_limit trace_peer"},
	}
	for _, tc := range tests {
		if got := names(tc.version, tc.rpt); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.version, got, tc.want)
		}
	}
}

func TestDANE(t *testing.T) {
	d := &DANE{Domain: "mx.example.com", Records: []tlsclient.TLSA{
		{Usage: 3, Selector: 1, MType: 1, Data: []byte{0xab, 0xcd}},
		{Usage: 2, Selector: 0, MType: 0, Data: []byte("der")},
	}}
	r := ClientRole(pfversion.MustParse("3.7.11"), "[192.0.2.1]:25", "")
	r.DANE = d
	second, _, err := r.Second()
	if err != nil {
		t.Fatal(err)
	}
	i := len(second) - 10
	want := "dane=1 domain=mx.example.com count=2 usage=3 selector=1 mtype=1 data=q80= usage=2 selector=0 mtype=0 data=ZGVy"
	if got := plainLine(second[i-1:]); got != want {
		t.Errorf("3.6+ DANE:\n got %s\nwant %s", got, want)
	}

	r.Version = pfversion.MustParse("3.4.0")
	second, _, err = r.Second()
	if err != nil {
		t.Fatal(err)
	}
	p, _, s := countParts(t, second, 14)
	if s != 14 {
		t.Errorf("3.4 start with DANE: %d conversions", s)
	}
	got := plainLine(second[p+14+13:]) // after 12 scalars and argv_size
	want = "dane=1 count=1 mdalg=sha256 argv_size=1 argv_value=" +
		"50:50:D8:0D:22:EC:D4:71:EA:55:DF:70:34:04:2C:1E:04:13:41:FF:40:66:E7:F6:FF:38:E2:0B:72:0D:F8:EA" +
		" argv_size=0 count=1 mdalg=sha256 argv_size=0 argv_size=1 argv_value=AB:CD" +
		" count=1 cert=ZGVy count=0 domain=mx.example.com flags=0 exp=0"
	if got != want {
		t.Errorf("3.4 DANE:\n got %s\nwant %s", got, want)
	}
}

func plainLine(l attr.List) string {
	var parts []string
	for _, a := range l {
		parts = append(parts, a.Name+"="+a.Value)
	}
	return strings.Join(parts, " ")
}

func TestProps(t *testing.T) {
	v := pfversion.MustParse("3.12-20260821")
	r := ServerRole(v, "[192.0.2.10]:51234")
	r.Props = map[string]string{"start.log_level": "2", "init.log_level": "3", "mdalg": "sha512"}
	second, _, err := r.Second()
	if err != nil {
		t.Fatal(err)
	}
	if got := second.All("log_level"); strings.Join(got, ",") != "3,2" {
		t.Errorf("log_level %q", got)
	}
	if got := second.All("mdalg"); strings.Join(got, ",") != "sha512,sha512" {
		t.Errorf("mdalg %q", got)
	}
	for _, props := range []map[string]string{{"nosuch": "x"}, {"params.mdalg": "x"}, {"dane": "1"}, {"argv_size": "2"}} {
		r.Props = props
		if _, err := r.Bytes(); err == nil {
			t.Errorf("Props %v accepted", props)
		}
	}
	// A version that sends no second list rejects Props.
	old := ServerRole(pfversion.MustParse("3.7.11"), "[192.0.2.10]:51234")
	old.Props = map[string]string{"log_level": "1"}
	if _, err := old.Bytes(); err == nil {
		t.Error("Props accepted for a one-list request")
	}
}

func TestAutoProgram(t *testing.T) {
	v := pfversion.MustParse("3.12-20260821")
	r := Request{Version: v, Endpoint: "[192.0.2.1]:25", Flags: 6, ServerID: "smtp"}
	second, _, _ := r.Second()
	if lp, _ := second.Get("log_param"); lp != "smtp_tls_loglevel" {
		t.Errorf("auto client role: log_param %q", lp)
	}
	r.Flags = 1
	second, _, _ = r.Second()
	if lp, _ := second.Get("log_param"); lp != "postscreen_tls_loglevel" {
		t.Errorf("auto server role: log_param %q", lp)
	}
	if ProgFinger.String() != "posttls-finger" || Program(9).String() != "program(9)" {
		t.Error("Program.String")
	}
}
