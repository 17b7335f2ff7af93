package maps

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture writes chain-ish files a, b and returns their paths.
func fixture(t *testing.T) (dir, a, b string) {
	t.Helper()
	dir = t.TempDir()
	a, b = filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	if err := os.WriteFile(a, []byte("AAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("BBB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, a, b
}

// logRec records log lines with their severity prefixes.
type logRec struct{ lines []string }

func (l *logRec) add(prefix, format string, a []any) {
	l.lines = append(l.lines, prefix+fmt.Sprintf(format, a...))
}
func (l *logRec) Infof(format string, a ...any)  { l.add("", format, a) }
func (l *logRec) Warnf(format string, a ...any)  { l.add("warning: ", format, a) }
func (l *logRec) Errorf(format string, a ...any) { l.add("error: ", format, a) }
func (l *logRec) Fatalf(format string, a ...any) { l.add("fatal: ", format, a) }

func (l *logRec) env() Env { return Env{Log: l} }

func TestTextTables(t *testing.T) {
	dir, a, b := fixture(t)
	th := filepath.Join(dir, "sni")
	src := "# comment\nExample.COM " + a + "\n.example.org\n  " + a + ", " + b + "\n\n\"q x\" " + b + "\nbad\nmissing " + dir + "/nope\n"
	if err := os.WriteFile(th, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	re := filepath.Join(dir, "re")
	if err := os.WriteFile(re, []byte("if /example\\.net$/\n/^www\\./ "+a+"\nendif\n/(a)\\1/ "+b+"\n/^mail\\./ "+b+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec, key, want string
		found           bool
		logs            []string
	}{
		{spec: "texthash:" + th, key: "EXAMPLE.com", want: "AAA\n", found: true, logs: []string{
			"warning: " + th + ", line 7: expected format: key whitespace value -- ignoring this line",
			"warning: " + th + ", line 8: open " + dir + "/nope: No such file or directory: skipping this entry"}},
		{spec: "texthash:" + th, key: ".example.org", want: "AAA\n\nBBB\n", found: true},
		{spec: "texthash:" + th, key: "other", found: false},
		{spec: "inline:{ a.example=" + a + ", { B.example = " + a + " " + b + " } }", key: "b.example", want: "AAA\n\nBBB\n", found: true},
		{spec: "static:" + b, key: "anything", want: "BBB\n", found: true},
		{spec: "static:{ " + a + " }", key: "anything", want: "AAA\n", found: true},
		{spec: "regexp:" + re, key: "WWW.example.net", want: "AAA\n", found: true, logs: []string{
			"warning: regexp map " + re + ", line 4: invalid escape sequence: `\\1`: Go's regexp (RE2) cannot do this: skipping this rule"}},
		{spec: "regexp:" + re, key: "www.example.com", found: false},
		{spec: "pcre:" + re, key: "mail.x", want: "BBB\n", found: true},
		{spec: "ldap:/etc/postfix/x.cf texthash:" + th, key: "example.com", want: "AAA\n", found: true, logs: []string{
			"warning: tls_server_sni_maps: table type \"ldap\" of ldap:/etc/postfix/x.cf is not supported by this implementation: the names it would match get the default chain",
			"warning: " + th + ", line 7: expected format: key whitespace value -- ignoring this line",
			"warning: " + th + ", line 8: open " + dir + "/nope: No such file or directory: skipping this entry"}},
	} {
		var l logRec
		m, err := Open("tls_server_sni_maps", tc.spec, l.env())
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		v, found, err := m.Find(tc.key)
		if err != nil || found != tc.found || v != tc.want {
			t.Errorf("%s: Find(%q) = %q, %v, %v; want %q, %v", tc.spec, tc.key, v, found, err, tc.want, tc.found)
		}
		if tc.logs != nil && strings.Join(l.lines, "\n") != strings.Join(tc.logs, "\n") {
			t.Errorf("%s: logs\n%s\nwant\n%s", tc.spec, strings.Join(l.lines, "\n"), strings.Join(tc.logs, "\n"))
		}
	}
}

func TestSurrogate(t *testing.T) {
	dir, a, _ := fixture(t)
	dup := filepath.Join(dir, "dup")
	os.WriteFile(dup, []byte("x.example "+a+"\nX.example "+a+"\n"), 0o644)
	for _, tc := range []struct {
		spec string
		logs []string
	}{
		{"texthash:" + dir + "/none", []string{
			"error: open database " + dir + "/none: No such file or directory",
			"warning: texthash:" + dir + "/none is unavailable. open database " + dir + "/none: No such file or directory",
			"warning: texthash:" + dir + "/none lookup error for \"x.example\""}},
		{"texthash:" + dup, []string{
			"error: " + dup + ", line 2: duplicate entry: \"x.example\"",
			"warning: texthash:" + dup + " is unavailable. " + dup + ", line 2: duplicate entry: \"x.example\"",
			"warning: texthash:" + dup + " lookup error for \"x.example\""}},
		{"fail:sni", []string{
			"warning: fail:sni lookup error for \"x.example\""}},
		{"cdb:" + dir + "/none", []string{
			"error: open database " + dir + "/none.cdb: No such file or directory",
			"warning: cdb:" + dir + "/none is unavailable. open database " + dir + "/none.cdb: No such file or directory",
			"warning: cdb:" + dir + "/none lookup error for \"x.example\""}},
	} {
		var l logRec
		m, err := Open("tls_server_sni_maps", tc.spec, l.env())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Find("x.example"); !errors.Is(err, ErrLookup) {
			t.Errorf("%s: err %v", tc.spec, err)
		}
		if got := strings.Join(l.lines, "\n"); got != strings.Join(tc.logs, "\n") {
			t.Errorf("%s: logs\n%s\nwant\n%s", tc.spec, got, strings.Join(tc.logs, "\n"))
		}
	}
	if _, err := Open("tls_server_sni_maps", "nocolon", Env{}); err == nil {
		t.Error("no error for a name without type")
	}
}

// TestPostmapTables reads tables made by Postfix's own postmap -F.
func TestPostmapTables(t *testing.T) {
	postmap, err := exec.LookPath("/usr/sbin/postmap")
	if err != nil {
		t.Skip("no postmap")
	}
	dir, a, b := fixture(t)
	cf := filepath.Join(dir, "cf")
	os.Mkdir(cf, 0o755)
	os.WriteFile(filepath.Join(cf, "main.cf"), nil, 0o644)
	src := "Example.com " + a + "\n.example.org " + a + "," + b + "\n"
	for _, typ := range []string{"hash", "btree", "lmdb", "cdb"} {
		t.Run(typ, func(t *testing.T) {
			name := filepath.Join(dir, "sni-"+typ)
			os.WriteFile(name, []byte(src), 0o644)
			if out, err := exec.Command(postmap, "-c", cf, "-F", typ+":"+name).CombinedOutput(); err != nil {
				if strings.Contains(string(out), "unsupported dictionary type") {
					t.Skipf("postmap: %s", out)
				}
				t.Fatalf("postmap: %v: %s", err, out)
			}
			var l logRec
			env := l.env()
			env.ConfigDir = cf
			m, err := Open("tls_server_sni_maps", typ+":"+name, env)
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{"example.COM": "AAA\n", ".example.org": "AAA\n\nBBB\n", "nope": ""} {
				v, found, err := m.Find(key)
				if err != nil || v != want || found != (want != "") {
					t.Errorf("Find(%q) = %q, %v, %v; want %q", key, v, found, err, want)
				}
			}
			if len(l.lines) != 0 {
				t.Errorf("logs: %q", l.lines)
			}
			if c := m.Changed(); c != "" {
				t.Errorf("Changed() = %q before any change", c)
			}
			// postmap rewrites the file: a new one replaces it.
			os.WriteFile(name, []byte(src+"x.example "+a+"\n"), 0o644)
			if out, err := exec.Command(postmap, "-c", cf, "-F", typ+":"+name).CombinedOutput(); err != nil {
				t.Fatalf("postmap: %v: %s", err, out)
			}
			want := typ + ":" + name + "(0,lock|fold_fix|src_rhs_is_file)"
			if c := m.Changed(); c != want {
				t.Errorf("Changed() = %q after postmap, want %q", c, want)
			}
		})
	}
}

// TestRegexpFlags: each flag letter toggles its option (i turns the
// default case folding off); an unknown one skips its rule with a warning.
func TestRegexpFlags(t *testing.T) {
	dir, a, b := fixture(t)
	re := filepath.Join(dir, "flags")
	if err := os.WriteFile(re, []byte("/^Case\\./i "+a+"\n/^q/q "+b+"\n/^é/é "+b+"\n/^any/ "+b+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"regexp", "pcre"} {
		for _, tc := range []struct {
			key, want string
			found     bool
		}{
			{"Case.example", "AAA\n", true},
			{"case.example", "", false},
			{"q.example", "", false},
			{"ANY.example", "BBB\n", true},
		} {
			var l logRec
			m, err := Open("tls_server_sni_maps", typ+":"+re, l.env())
			if err != nil {
				t.Fatal(err)
			}
			v, found, err := m.Find(tc.key)
			if err != nil || found != tc.found || v != tc.want {
				t.Errorf("%s: Find(%q) = %q, %v, %v; want %q, %v", typ, tc.key, v, found, err, tc.want, tc.found)
			}
			want := []string{
				"warning: " + typ + " map " + re + ", line 2: unknown regexp option \"q\": skipping this rule",
				"warning: " + typ + " map " + re + ", line 3: unknown regexp option \"é\": skipping this rule"}
			if !slices.Equal(l.lines, want) {
				t.Errorf("%s: logs\n%s\nwant\n%s", typ, strings.Join(l.lines, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}
