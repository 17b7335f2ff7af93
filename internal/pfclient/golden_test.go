package pfclient

import (
	"bytes"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// goldenVersions: every row of the §8.2 table (first and last release of
// each range) and the older generations.
var goldenVersions = []string{
	"2.8.0", "2.11.11", "3.3.22", "3.4.0", "3.5.19", "3.5.20", "3.6.0", "3.6.10", "3.7.5", "3.7.6",
	"3.7.11", "3.8.0", "3.8.1", "3.8.20", "3.9.0", "3.9.14", "3.10.0", "3.10.13", "3.11.0",
	"3.11.6", "3.12-20251222", "3.12-20260127", "3.12-20260218", "3.12-20260406",
	"3.12-20260410", "3.12-20260416", "3.12-20260423", "3.12-20260429", "3.12-20260510",
	"3.12-20260514", "3.12-20260821",
}

type goldenCase struct {
	name string
	req  Request
}

func goldenCases() []goldenCase {
	var cases []goldenCase
	for _, s := range goldenVersions {
		v := pfversion.MustParse(s)
		cases = append(cases, goldenCase{"postscreen-" + s, ServerRole(v, "[192.0.2.10]:51234")})
		if v.Generation() >= pfversion.G3 {
			cases = append(cases, goldenCase{"smtp-" + s,
				ClientRole(v, "[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25")})
		}
	}
	v312 := pfversion.MustParse("3.12-20260821")
	dane := &DANE{Domain: "mx.example.com", Records: []tlsclient.TLSA{
		{Usage: 3, Selector: 1, MType: 1, Data: bytes.Repeat([]byte{0xab}, 32)},
		{Usage: 2, Selector: 0, MType: 2, Data: bytes.Repeat([]byte{0xcd}, 64)},
	}}
	withDANE := func(s string) Request {
		r := ClientRole(pfversion.MustParse(s), "[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25")
		r.Props = map[string]string{"tls_level": "5", "sni": "mx.example.com"}
		r.DANE, r.MatchNames = dane, []string{"mx.example.com"}
		return r
	}
	withRPT := func(s string, t *TLSRPT) Request {
		r := ClientRole(pfversion.MustParse(s), "[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25")
		r.TLSRPT = t
		return r
	}
	fullRPT := &TLSRPT{Enabled: true, SocketName: "unix:/run/tlsrpt.sock",
		PolicyDomain: "example.com", PolicyString: "", PolicyType: 1,
		PolicyStrings: []string{"3 1 1 ABCD"}, TLSPolicyDomain: "example.com",
		MXHostPatterns: []string{"mx.example.com"}, SndMTAAddr: "192.0.2.9",
		RcvMTAName: "mx.example.com", RcvMTAAddr: "192.0.2.1", RcvMTAEHLO: "mx.example.com",
		Flags: 7}
	return append(cases,
		goldenCase{"smtp-3.4.0-dane", withDANE("3.4.0")},
		goldenCase{"smtp-3.7.11-dane", withDANE("3.7.11")},
		goldenCase{"smtp-3.10.13-tlsrpt0", withRPT("3.10.13", &TLSRPT{})},
		goldenCase{"smtp-3.11.6-tlsrpt", withRPT("3.11.6", fullRPT)},
		goldenCase{"smtp-3.12-20260821-tlsrpt", withRPT("3.12-20260821", fullRPT)},
		goldenCase{"smtpd-test-3.11.6", SMTPDTest(pfversion.MustParse("3.11.6"), "[192.0.2.10]:51234", "")},
		goldenCase{"smtpd-test-3.12-20260821", SMTPDTest(v312, "[192.0.2.10]:51234", "")},
		goldenCase{"probe-3.12-20260821", Probe(v312, "[192.0.2.10]:51234")},
		goldenCase{"finger-3.7.11-capture", finger37()},
		goldenCase{"finger-3.11.6-capture", finger311("3.11.6")},
		goldenCase{"finger-3.12-20260821-capture", finger311("3.12-20260821")},
		goldenCase{"postscreen-3.12-20260821-capture", postscreen312()},
	)
}

// render is the readable sibling of a golden file: each list in the plain
// encoding (name=value lines, then an empty line).
func render(t *testing.T, r Request) []byte {
	b := attr.AppendPlain(nil, r.First())
	second, ok, err := r.Second()
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		b = attr.AppendPlain(b, second)
	}
	return b
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			wire := mustBytes(t, tc.req)
			text := render(t, tc.req)
			for _, f := range []struct {
				ext  string
				data []byte
			}{{".golden", wire}, {".txt", text}} {
				pftest.Golden(t, tc.name+f.ext, string(f.data), *pftest.Update)
			}
			// The wire form decodes back into the same lists, and the
			// reader stops exactly at the end of each.
			rd := attr.NewReader(bytes.NewReader(wire))
			first, err := rd.ReadList()
			if err != nil || plainLine(first) != plainLine(tc.req.First()) {
				t.Errorf("first list decodes as %q, %v", first, err)
			}
			if second, ok, _ := tc.req.Second(); ok {
				got, err := rd.ReadList()
				if err != nil || plainLine(got) != plainLine(second) {
					t.Errorf("second list decodes as %q, %v", got, err)
				}
			}
			if _, err := rd.ReadList(); err == nil {
				t.Error("more than the expected lists in the request")
			}
		})
	}
}
