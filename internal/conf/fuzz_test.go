package conf

import (
	"errors"
	"os"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
)

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/debian/main.cf"); err == nil {
		f.Add(string(data))
	}
	for _, s := range []string{
		"", "a = b\n", "a=b", " a = b\n", "a = 1\n  2\n# c\n\t3\n", "a\n", "= b\n",
		"a = 1\na = 2\n", "a = 1\r\n", "#\n\n  \n", "a = ${b\n", "a = $a\n",
		"a = \x00b\n", "a = 1\n\n\n   ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		c, err := Parse("main.cf", strings.NewReader(input), logs.Discard)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "main.cf, line ") {
				t.Fatalf("unexpected error form: %v", err)
			}
			return
		}
		for _, n := range c.Names() {
			v, _ := c.Raw(n)
			if n == "" || strings.ContainsAny(n, "= \t\n") {
				t.Fatalf("bad name %q", n)
			}
			if v != "" && (isSpace(v[0]) || isSpace(v[len(v)-1])) {
				t.Fatalf("untrimmed value %q", v)
			}
			if strings.Contains(v, "\n") {
				t.Fatalf("newline in value %q", v)
			}
			_, _ = c.Str(n) // must terminate without panic
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"$a", "${a}", "$(a)", "$$", "${a?x}", "${a:x}", "${a?{x}:{y}}",
		"${{$a} == {b} ? {c} : {d}}", "${{3.6} <level {$n}?{a}:{b}}",
		"${a", "$", "${a?{x}", "$self", "${{a}==b}", "${ a ? { $b } }",
		"${smtpd_tls_fingerprint_digest}", "$tlsproxy_tls_key_file",
	} {
		f.Add(s, "A")
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		var warned int
		c, _ := Parse("main.cf", strings.NewReader(""), logs.Lines(func(string) { warned++ }))
		c.hostname = "mx.example.com"
		c.Set("a", value)
		c.Set("n", value)
		c.Set("self", "$self")
		c.Set("loop", pattern) // may refer to itself via $loop
		got, err := c.Eval(pattern)
		if err != nil && !errors.Is(err, ErrMacro) {
			t.Fatalf("unexpected error %v", err)
		}
		if (err != nil) != (warned > 0) {
			t.Fatalf("error %v but %d warnings", err, warned)
		}
		if !strings.Contains(pattern, "$") && got != pattern {
			t.Fatalf("text without macros changed: %q -> %q", pattern, got)
		}
		_, _ = c.Eval("$loop")
	})
}
