package conf

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
)

// goldenDefaults holds "postconf -d" of Postfix 3.7.11 for every name in
// Defaults; host- and program-dependent values are replaced by hostDependent.
const (
	goldenDefaults = "testdata/postconf-d-3.7.11.golden"
	hostDependent  = "(host-dependent)"
)

// tableNames returns the Postfix parameter names of Defaults, sorted.
func tableNames() []string { return releaseNames(Defaults) }

// TestDefaultsGolden checks the table against the recorded postconf output.
// With -update and postconf installed, the golden file is regenerated.
func TestDefaultsGolden(t *testing.T) {
	if *pftest.Update {
		out := runPostconfDefaults(t)
		var b strings.Builder
		for _, n := range tableNames() {
			v, ok := out[n]
			if !ok {
				t.Fatalf("postconf -d does not know %s", n)
			}
			if Defaults[n].Runtime {
				v = hostDependent
			}
			b.WriteString(strings.TrimRight(n+" = "+v, " ") + "\n")
		}
		if err := os.WriteFile(goldenDefaults, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(goldenDefaults)
	if err != nil {
		t.Fatal(err)
	}
	golden := parsePostconfRaw(string(data))
	if len(golden) != len(tableNames()) {
		t.Errorf("golden has %d names, table %d", len(golden), len(tableNames()))
	}
	for _, n := range tableNames() {
		want, ok := golden[n]
		p := Defaults[n]
		switch {
		case !ok:
			t.Errorf("%s: not in %s", n, goldenDefaults)
		case p.Runtime:
			if want != hostDependent || p.Default != "" {
				t.Errorf("%s: runtime parameter, golden %q, table %q", n, want, p.Default)
			}
		case p.Default != want:
			t.Errorf("%s: table default %q, postconf -d %q", n, p.Default, want)
		}
	}
}

// TestDefaultsAgainstPostconf compares the table with the installed
// postconf directly; the run-time defaults are compared with what this
// package computes for the same host.
func TestDefaultsAgainstPostconf(t *testing.T) {
	if _, err := exec.LookPath("postconf"); err != nil {
		t.Skip("postconf not installed")
	}
	out := runPostconfDefaults(t)
	if v := out["mail_version"]; v != "3.7.11" {
		t.Skipf("installed Postfix is %q, table is for 3.7.11", v)
	}
	c, err := Parse("main.cf", strings.NewReader(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tableNames() {
		p := Defaults[n]
		want, ok := out[n]
		switch {
		case !ok:
			t.Errorf("%s: unknown to postconf -d", n)
		case n == "process_name":
			// postconf reports its own program name.
		case p.Runtime:
			if got, err := c.Str(n); err != nil || got != want {
				t.Errorf("%s: computed %q (%v), postconf -d %q", n, got, err, want)
			}
		case p.Default != want:
			t.Errorf("%s: table %q, postconf -d %q", n, p.Default, want)
		}
	}
}

// TestTableSanity checks internal consistency of the table.
func TestTableSanity(t *testing.T) {
	c, err := Parse("main.cf", strings.NewReader(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.hostname = "mx.example.com"
	for _, n := range tableNames() {
		p := Defaults[n]
		var err error
		switch p.Kind {
		case KindBool:
			_, err = c.Bool(n)
		case KindInt:
			_, err = c.Int(n)
		case KindTime:
			_, err = c.Time(n)
			if p.Default != "" && !strings.ContainsAny(p.Default, "smhdw") {
				t.Errorf("%s: time default %q lacks a unit", n, p.Default)
			}
		default:
			_, err = c.Str(n)
		}
		if err != nil {
			t.Errorf("%s (%s): default does not convert: %v", n, p.Kind, err)
		}
		if strings.HasPrefix(n, "tlsproxy_tls_") && !strings.Contains(p.Default, "$smtpd_") {
			t.Errorf("%s: server default %q does not inherit from smtpd", n, p.Default)
		}
	}
}

func runPostconfDefaults(t *testing.T) map[string]string {
	t.Helper()
	path, err := exec.LookPath("postconf")
	if err != nil {
		t.Fatal("postconf not installed")
	}
	out, err := exec.Command(path, append([]string{"-d"}, tableNames()...)...).Output()
	if err != nil {
		t.Fatalf("postconf -d: %v", err)
	}
	return parsePostconfRaw(string(out))
}

// parsePostconfRaw reads "name = value" lines verbatim ("name =" is empty).
func parsePostconfRaw(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, value, ok := strings.Cut(line, " ="); ok {
			m[name] = strings.TrimPrefix(value, " ")
		}
	}
	return m
}
