package conf

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pftest"
)

// recorder collects warnings.
type recorder struct{ msgs []string }

func (r *recorder) warn(s string) { r.msgs = append(r.msgs, s) }

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		want      map[string]string // explicit raw values expected
		wantWarns []string          // substrings, in order
		wantErr   string            // substring; "" = success
	}{
		{name: "empty", input: "", want: map[string]string{}},
		{name: "simple", input: "a = b\n", want: map[string]string{"a": "b"}},
		{name: "no spaces", input: "a=b", want: map[string]string{"a": "b"}},
		{name: "blanks trimmed", input: "a \t=\t  b c  \t\r\n", want: map[string]string{"a": "b c"}},
		{name: "empty value", input: "a =\n", want: map[string]string{"a": ""}},
		{name: "hash inside value", input: "a = b # not a comment\n", want: map[string]string{"a": "b # not a comment"}},
		{name: "comments and blanks", input: "# c\n\n   \n  # indented comment\na = 1\n", want: map[string]string{"a": "1"}},
		{name: "continuation keeps leading blank", input: "a = 1,\n  2,\n\t3\n", want: map[string]string{"a": "1,  2,\t3"}},
		{name: "comment between continuations", input: "a = 1\n# c\n  2\nb = 3\n", want: map[string]string{"a": "1  2", "b": "3"}},
		{name: "blank line between continuations", input: "a = 1\n\n  2\n", want: map[string]string{"a": "1  2"}},
		{name: "no final newline", input: "a = 1\nb = 2", want: map[string]string{"a": "1", "b": "2"}},
		{name: "crlf", input: "a = 1\r\nb = 2\r\n", want: map[string]string{"a": "1", "b": "2"}},
		{name: "dollar kept raw", input: "a = $b ${c?{x}}\n", want: map[string]string{"a": "$b ${c?{x}}"}},
		{
			name: "leading whitespace", input: "  a = 1\nb = 2\n",
			want:      map[string]string{"b": "2"},
			wantWarns: []string{`main.cf: logical line must not start with whitespace: "  a = 1"`},
		},
		{
			name: "leading whitespace long", input: " 0123456789012345678901234567890123456789\n",
			want:      map[string]string{},
			wantWarns: []string{`whitespace: " 01234567890123456789012345678..."`},
		},
		{
			name: "override", input: "a = 1\nb = 2\na = 3\n",
			want:      map[string]string{"a": "3", "b": "2"},
			wantWarns: []string{"main.cf, line 3: overriding earlier entry: a=1"},
		},
		{name: "same value twice is quiet", input: "a = 1\na = 1\n", want: map[string]string{"a": "1"}},
		{
			name: "override line is first line of entry", input: "# x\na = 1\n\na =\n  2\n",
			want:      map[string]string{"a": "2"},
			wantWarns: []string{"line 4: overriding earlier entry: a=1"},
		},
		{name: "missing equals", input: "a = 1\n\nfoo bar\n", wantErr: `main.cf, line 3: missing '=' after attribute name: "foo bar"`},
		{name: "missing equals at eof", input: "foo", wantErr: `line 1: missing '=' after attribute name: "foo"`},
		{name: "missing name", input: "= value\n", wantErr: `line 1: missing attribute name: "= value"`},
		{name: "master.cf line", input: "smtp inet n - y - - smtpd\n  -o a=b\n", wantErr: "line 1: missing '=' after attribute name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c, err := Parse("/etc/postfix/main.cf", strings.NewReader(tc.input), logs.Lines(rec.warn))
			if !pftest.WantErr(t, err, tc.wantErr) {
				return
			}
			got := map[string]string{}
			for _, n := range c.Names() {
				got[n], _ = c.Raw(n)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(rec.msgs) != len(tc.wantWarns) {
				t.Fatalf("warnings %q, want %q", rec.msgs, tc.wantWarns)
			}
			for i, w := range tc.wantWarns {
				if !strings.Contains(rec.msgs[i], w) {
					t.Errorf("warning %q, want containing %q", rec.msgs[i], w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("a = 1\nb = $a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides []string
		wantA     string
		wantB     string
		wantErr   string
	}{
		{name: "no overrides", wantA: "1", wantB: "1"},
		{name: "override wins", overrides: []string{"a=2"}, wantA: "2", wantB: "2"},
		{name: "spaced override", overrides: []string{"b = x y "}, wantA: "1", wantB: "x y"},
		{name: "raw until used", overrides: []string{"b=$a$a"}, wantA: "1", wantB: "11"},
		{name: "last override wins", overrides: []string{"a=2", "a=3"}, wantA: "3", wantB: "3"},
		{name: "bad override", overrides: []string{"x"}, wantErr: `invalid "-o x" option value: missing '=' after attribute name`},
		{name: "nameless override", overrides: []string{"=x"}, wantErr: "missing attribute name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(dir, tc.overrides, nil)
			if !pftest.WantErr(t, err, tc.wantErr) {
				return
			}
			if a, _ := c.Str("a"); a != tc.wantA {
				t.Errorf("a = %q, want %q", a, tc.wantA)
			}
			if b, _ := c.Str("b"); b != tc.wantB {
				t.Errorf("b = %q, want %q", b, tc.wantB)
			}
			if d, _ := c.Str("config_directory"); d != dir {
				t.Errorf("config_directory = %q, want %q", d, dir)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "nonexistent"), nil, nil); err == nil || !strings.Contains(err.Error(), "open "+dir+"/nonexistent/main.cf") {
		t.Errorf("missing file: err = %v", err)
	}
}

// debianNames are the parameters shown in the Debian golden file: the whole
// table (minus process_name, which names the test binary) plus the explicit
// settings of the fixture.
func debianNames(c *Config) []string {
	seen := map[string]bool{"process_name": true}
	var names []string
	for n, p := range Defaults {
		if !seen[n] && !p.Ours {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range c.Names() {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func TestDebianGolden(t *testing.T) {
	var rec recorder
	c, err := Load("testdata/debian", []string{"tlsproxy_tls_CAfile=$smtp_tls_CApath/ca.pem"}, logs.Lines(rec.warn))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Dump(debianNames(c)...), "\n") + "\n"
	if len(rec.msgs) != 0 {
		t.Errorf("unexpected warnings: %q", rec.msgs)
	}
	pftest.Golden(t, "debian/expanded.golden", got, *pftest.Update)
}

// TestDebianAgainstPostconf compares the expanded values with those of the
// real "postconf -x" on the same fixture (whitespace runs are normalised
// because postconf re-folds long values).
func TestDebianAgainstPostconf(t *testing.T) {
	postconf, err := exec.LookPath("postconf")
	if err != nil {
		t.Skip("postconf not installed")
	}
	c, err := Load("testdata/debian", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := debianNames(c)
	out, err := exec.Command(postconf, append([]string{"-c", "testdata/debian", "-x"}, names...)...).Output()
	if err != nil {
		t.Fatalf("postconf: %v", err)
	}
	want := parsePostconf(string(out))
	for _, n := range names {
		got, err := c.Str(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		w, ok := want[n]
		if !ok {
			t.Errorf("%s: missing from postconf output", n)
			continue
		}
		if strings.Join(strings.Fields(got), " ") != w {
			t.Errorf("%s = %q, postconf -x says %q", n, got, w)
		}
	}
}

// parsePostconf reads "name = value" lines into a map, normalising blanks.
func parsePostconf(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, value, ok := strings.Cut(line, " =")
		if ok {
			m[name] = strings.Join(strings.Fields(value), " ")
		}
	}
	return m
}
