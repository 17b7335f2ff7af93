package maps

import (
	"strings"
	"testing"

	"tlsproxy/internal/logs"
)

// loadSelf stands in for reading files: the value is its own contents.
func loadSelf(v string) (string, error) { return v, nil }

func FuzzTexthash(f *testing.F) {
	for _, s := range []string{
		"example.com /a.pem\n.example.org /a.pem, /b.pem\n",
		"# c\n\"q x\" v\n  cont\nkey\\ x v\nbad\n",
		"a \"b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, reason := parseTexthash(data, "t", logs.Discard, loadSelf)
		if (tab == nil) == (reason == "") {
			t.Fatalf("table %v with reason %q", tab, reason)
		}
		if tab != nil {
			for k, v := range tab.m {
				if k == "" || v == "" || k != lowerASCII(k) {
					t.Fatalf("entry %q=%q", k, v)
				}
			}
		}
	})
}

func FuzzInline(f *testing.F) {
	for _, s := range []string{"{ a=b, { c = d e } }", "{", "{a}", "x=y", "{ {a=b} {=c} }"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		tab, reason := parseInline(spec, loadSelf)
		if (tab == nil) == (reason == "") {
			t.Fatalf("table %v with reason %q", tab, reason)
		}
	})
}

func FuzzRegexp(f *testing.F) {
	for _, s := range []string{
		"/^www\\./ a\nif !/x/i\n/y/ b\nendif\n/(a)\\1/ c\n",
		"/a/!/b/ v\n!/c/ w\n/unclosed v\nendif\nif /x/\n",
		"/a b # c/x v\n/[]x]/A z\n",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, data string, pcre bool) {
		typ := "regexp"
		if pcre {
			typ = "pcre"
		}
		tab := parseRegexp(typ, "r", []byte(data), logs.Discard, loadSelf)
		for _, key := range []string{"www.example.com", "", strings.Repeat("a", 300)} {
			tab.get(key)
		}
	})
}

func FuzzCDB(f *testing.F) {
	f.Add(make([]byte, 2048), "key")
	f.Add(append(make([]byte, 2048), 1, 2, 3, 4, 5, 6, 7, 8), "")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		c := &cdb{data: data}
		c.get(key)
	})
}
