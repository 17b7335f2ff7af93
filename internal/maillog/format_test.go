package maillog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"tlsproxy/internal/pftest"
)

// goldenCases are rendered through every channel into testdata/records.golden.
var goldenCases = []struct {
	name string
	sev  severity
	text string
}{
	{"connect", sevInfo, "CONNECT from [127.0.0.1]:53394"},
	{"disconnect", sevInfo, "DISCONNECT [127.0.0.1]:53394"},
	{"warning", sevWarning, "TLS library problem: error:0A00010B:SSL routines::wrong version number:../ssl/record/ssl3_record.c:350:"},
	{"error", sevError, "something failed"},
	{"fatal", sevFatal, "watchdog timeout"},
	{"panic", sevPanic, "tlsp_strategy: unexpected state"},
	{"newline", sevInfo, "line one\nline two\r\x00end"},
	{"utf8", sevInfo, "subject_CN=m\u00fcller.example, bad=\xff\xfe, c1=\u0085"},
	{"empty", sevWarning, ""},
}

func TestGoldenRecords(t *testing.T) {
	var out bytes.Buffer
	for _, tc := range goldenCases {
		text := cleanText(tc.text)
		fmt.Fprintf(&out, "%s syslog  %q\n", tc.name, syslogRecord(2, tc.sev, testTime, "postfix/tlsproxy", 27685, text))
		fmt.Fprintf(&out, "%s local3  %q\n", tc.name, syslogRecord(19, tc.sev, testTimeDay4, "postfix/tlsproxy", 27685, text))
		fmt.Fprintf(&out, "%s postlog %q\n", tc.name, postlogRecord("harness", tc.sev, testTime, "postfix/tlsproxy", 27685, text))
		fmt.Fprintf(&out, "%s postlog4 %q\n", tc.name, postlogRecord("harness", tc.sev, testTimeDay4, "postfix/tlsproxy", 27685, text))
		fmt.Fprintf(&out, "%s stderr  %q\n", tc.name, stderrRecord(tc.sev, "postfix/tlsproxy", text))
	}
	pftest.Golden(t, "records.golden", out.String(), *pftest.Update)
}

// TestSpecVectors pins the exact lines given in the spec, independent of
// the golden file.
func TestSpecVectors(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"postlog", string(postlogRecord(firstLabel("harness.localdomain"), sevInfo, testTime, "postfix/tlsproxy", 27685, "CONNECT from [127.0.0.1]:53394")),
			"Nov 24 20:28:30 harness postfix/tlsproxy[27685]: CONNECT from [127.0.0.1]:53394"},
		// Postfix's postlogd client pads the day with a zero (strftime
		// "%b %d"), syslog(3) with a space.
		{"postlog day 4", string(postlogRecord("harness", sevWarning, testTimeDay4, "postfix/tlsproxy", 7, "x")),
			"Nov 04 07:05:09 harness postfix/tlsproxy[7]: warning: x"},
		{"syslog info", string(syslogRecord(2, sevInfo, testTime, "postfix/tlsproxy", 10688, "CONNECT from [192.0.2.10]:51234")),
			"<22>Nov 24 20:28:30 postfix/tlsproxy[10688]: CONNECT from [192.0.2.10]:51234"},
		{"syslog warning", string(syslogRecord(2, sevWarning, testTimeDay4, "postfix/tlsproxy", 7, "x")),
			"<20>Nov  4 07:05:09 postfix/tlsproxy[7]: warning: x"},
		{"syslog error", string(syslogRecord(2, sevError, testTime, "p/t", 7, "x")), "<19>Nov 24 20:28:30 p/t[7]: error: x"},
		{"syslog fatal", string(syslogRecord(2, sevFatal, testTime, "p/t", 7, "x")), "<18>Nov 24 20:28:30 p/t[7]: fatal: x"},
		{"syslog panic", string(syslogRecord(23, sevPanic, testTime, "p/t", 7, "x")), "<186>Nov 24 20:28:30 p/t[7]: panic: x"},
		{"stderr", string(stderrRecord(sevWarning, "postfix/tlsproxy", "x")), "postfix/tlsproxy: warning: x\n"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "CONNECT from [::1]:25", "CONNECT from [::1]:25"},
		{"newline", "a\nb", "a?b"},
		{"crlf tab nul del", "a\r\n\t\x00\x7fb", "a?????b"},
		{"utf8 kept", "gr\u00fc\u00df", "gr\u00fc\u00df"},
		{"invalid utf8", "a\xc3(b", "a?(b"},
		{"c1 control", "a\u0085b", "a??b"},
		{"exact limit", strings.Repeat("x", maxText), strings.Repeat("x", maxText)},
		{"over limit", strings.Repeat("x", maxText+1000), strings.Repeat("x", maxText)},
		{"over limit dirty", "\n" + strings.Repeat("x", maxText), "?" + strings.Repeat("x", maxText-1)},
		{"no split rune", strings.Repeat("a", maxText-1) + "\u00e9", strings.Repeat("a", maxText-1)},
		{"rune fits", strings.Repeat("a", maxText-2) + "\u00e9z", strings.Repeat("a", maxText-2) + "\u00e9"},
	}
	for _, tc := range tests {
		if got := cleanText(tc.in); got != tc.want {
			t.Errorf("%s: cleanText(%.40q) = %.60q (len %d), want %.60q (len %d)", tc.name, tc.in, got, len(got), tc.want, len(tc.want))
		}
	}
}

func FuzzCleanText(f *testing.F) {
	for _, tc := range goldenCases {
		f.Add(tc.text)
	}
	f.Add(strings.Repeat("\u00e9", maxText))
	f.Add("\xf0\x9f\x98")
	f.Fuzz(func(t *testing.T, in string) {
		out := cleanText(in)
		if len(out) > maxText {
			t.Fatalf("len %d > %d", len(out), maxText)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
		for _, r := range out {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) {
				t.Fatalf("control character %U in %q", r, out)
			}
		}
		if len(in) <= maxText && isClean(in) && out != in {
			t.Fatalf("clean input changed: %q -> %q", in, out)
		}
		if len(in) <= maxText && len(out) != len(in) {
			t.Fatalf("short input changed length: %d -> %d", len(in), len(out))
		}
	})
}

func TestParseFacility(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		// positive
		{"", 2, ""},
		{"mail", 2, ""},
		{"MAIL", 2, ""},
		{"kern", 0, ""},
		{"user", 1, ""},
		{"daemon", 3, ""},
		{"auth", 4, ""},
		{"authpriv", 10, ""},
		{"local0", 16, ""},
		{"Local7", 23, ""},
		// negative
		{"local8", 0, `unknown syslog_facility: "local8"`},
		{"LOG_MAIL", 0, `unknown syslog_facility: "LOG_MAIL"`},
		{" mail", 0, "unknown syslog_facility"},
		{"2", 0, "unknown syslog_facility"},
	}
	for _, tc := range tests {
		got, err := ParseFacility(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseFacility(%q) error = %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseFacility(%q) error = %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseFacility(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzParseFacility(f *testing.F) {
	for name := range facilities {
		f.Add(name)
	}
	f.Add("")
	f.Add("LOCAL9")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ParseFacility(in)
		if err != nil {
			return
		}
		if n < 0 || n > 23 {
			t.Fatalf("facility %d out of range for %q", n, in)
		}
		if in != "" && facilities[strings.ToLower(in)] != n {
			t.Fatalf("%q parsed to %d, not the table value", in, n)
		}
	})
}

func TestIdent(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		syslogName, argv0 string
		env               map[string]string
		want              string
	}{
		{"", "tlsproxy", nil, "postfix/tlsproxy"},
		{"postfix", "/usr/lib/postfix/sbin/tlsproxy", nil, "postfix/tlsproxy"},
		{"postfix-out", "tlsproxy", nil, "postfix-out/tlsproxy"},
		{"postfix/sinkrelay", "../../../x/tlsproxy", map[string]string{"MAIL_LOGTAG": "postfix"}, "postfix/sinkrelay/tlsproxy"},
		{"", "tlsproxy", map[string]string{"MAIL_LOGTAG": "postfix-in"}, "postfix-in/tlsproxy"},
	}
	for _, tc := range tests {
		if got := Ident(tc.syslogName, tc.argv0, env(tc.env)); got != tc.want {
			t.Errorf("Ident(%q, %q, %v) = %q, want %q", tc.syslogName, tc.argv0, tc.env, got, tc.want)
		}
	}
}

func TestFirstLabel(t *testing.T) {
	for in, want := range map[string]string{"harness.localdomain": "harness", "mx": "mx", "": "", "a.b.c": "a"} {
		if got := firstLabel(in); got != want {
			t.Errorf("firstLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
