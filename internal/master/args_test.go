package master

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// def returns the Options of an empty command line, modified by f.
func def(f func(o *Options)) Options {
	o := Options{MaxIdle: -1, MaxUse: -1, Retire: -1, Sockets: 1}
	if f != nil {
		f(&o)
	}
	return o
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want Options
	}{
		{"empty", words(""), def(nil)},
		{"debian argv", words("-z -t unix -u -c -o tlsproxy_tls_loglevel=1"), def(func(o *Options) {
			o.Unlimited, o.Transport, o.Unprivileged, o.Chroot = true, "unix", true, true
			o.Overrides = []string{"tlsproxy_tls_loglevel=1"}
		})},
		{"combined flags", words("-zuc -vvV -dDlS"), def(func(o *Options) {
			o.Unlimited, o.Unprivileged, o.Chroot = true, true, true
			o.Verbose, o.Stderr = 2, true
			o.Debug, o.Debugger, o.SingleProcess, o.Standalone = true, true, true, true
		})},
		{"attached arguments", words("-tunix -ofoo=bar -nsvc2 -s2 -i100 -m7 -r60"), def(func(o *Options) {
			o.Transport, o.Service, o.Sockets = "unix", "svc2", 2
			o.Overrides = []string{"foo=bar"}
			o.MaxIdle, o.MaxUse, o.Retire = 100, 7, 60
		})},
		{"argument after flags in one word", words("-zut unix -zo a=b"), def(func(o *Options) {
			o.Unlimited, o.Unprivileged, o.Transport = true, true, "unix"
			o.Overrides = []string{"a=b"}
		})},
		{"argument looking like an option", words("-n -z -o -x=1"), def(func(o *Options) {
			o.Service = "-z"
			o.Overrides = []string{"-x=1"}
		})},
		{"overrides in order, braces, spaces", []string{"-o", "b=2", "-o", "{a=1}", "-o", "c=", "-o", "{ d = x y }", "-o", " e== "}, def(func(o *Options) {
			o.Overrides = []string{"b=2", "a=1", "c=", "d=x y", "e=="}
		})},
		{"time units", words("-i 2m -m 0"), def(func(o *Options) { o.MaxIdle, o.MaxUse = 120, 0 })},
		{"double dash ends options", words("-z -- -u x"), def(func(o *Options) {
			o.Unlimited = true
			o.Args = []string{"-u", "x"}
		})},
		{"operand ends options", words("-z foo -u"), def(func(o *Options) {
			o.Unlimited = true
			o.Args = []string{"foo", "-u"}
		})},
		{"lone dash is an operand", words("- -z"), def(func(o *Options) { o.Args = []string{"-", "-z"} })},
		{"empty word is an operand", words("_ -z"), def(func(o *Options) { o.Args = []string{"", "-z"} })},
		{"last value wins", words("-t inet -t unix -s 3 -s 1"), def(func(o *Options) { o.Transport = "unix" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseArgs(%q) =\n %+v\nwant\n %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := []struct{ args, want string }{
		{"-x", "invalid option: x"},
		{"-zq", "invalid option: q"},
		{"-:", "invalid option: :"},
		{"-\xff", `invalid option: "\xff"`},
		{"-t", "option requires an argument: t"},
		{"-z -o", "option requires an argument: o"},
		{"-s 0", `invalid socket_count: "0"`},
		{"-s x", `invalid socket_count: "x"`},
		{"-s -1", `invalid socket_count: "-1"`},
		{"-s 99999999999", `invalid socket_count: "99999999999"`},
		{"-r 0", `invalid retirement time: "0"`},
		{"-m 1x", `invalid max_use value: "1x"`},
		{"-m +1", `invalid max_use value: "+1"`},
		{"-i 1y", `invalid max_idle time: "1y"`},
		{"-i s", `invalid max_idle time: "s"`},
		{"-i 9999999w", `invalid max_idle time: "9999999w"`},
		{"-o foo", `invalid "-o foo" option value: missing '=' after parameter name`},
		{"-o =bar", `invalid "-o =bar" option value: missing parameter name`},
		{"-o {}", `invalid "-o {}" option value: missing '='`},
	}
	for _, tc := range cases {
		_, err := ParseArgs(words(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseArgs(%q) error = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		args string
		tty  bool
		want string // "" = no error
	}{
		{"-z -t unix -u -c", false, ""},
		{"-t UNIX", false, ""},
		{"-z -t unix -u", true, "do not run this command by hand"},
		{"-d -t unix", true, ""},
		{"-S", true, ""},
		{"-z -u", false, "no transport type specified"},
		{"-z -u", true, "do not run this command by hand"},
		{"-t inet", false, "unsupported transport type: inet"},
		{"-t unix extra", false, "unexpected command-line argument: extra"},
	}
	for _, tc := range cases {
		o, err := ParseArgs(words(tc.args))
		if err != nil {
			t.Fatal(err)
		}
		err = o.Check(tc.tty)
		if got := errText(err); got != tc.want {
			t.Errorf("Check(%q, tty=%v) = %q, want %q", tc.args, tc.tty, got, tc.want)
		}
	}
}

func TestSplitOverride(t *testing.T) {
	cases := []struct{ in, name, value string }{
		{"a=b", "a", "b"},
		{" a = b c ", "a", "b c"},
		{"{ a = {x} }", "a", "{x}"},
		{"a=", "a", ""},
		{"{a}=b", "{a}", "b"}, // only a brace pair around the whole text is stripped
	}
	for _, tc := range cases {
		n, v, err := SplitOverride(tc.in)
		if err != nil || n != tc.name || v != tc.value {
			t.Errorf("SplitOverride(%q) = %q, %q, %v; want %q, %q", tc.in, n, v, err, tc.name, tc.value)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"-z -t unix -u -c -o tlsproxy_tls_loglevel=1",
		"-zuc -vvV -dDlS", "-tunix -ofoo=bar -s2 -i100 -m7 -r60",
		"-o { a = b } -- x", "-i 2m -n", "-x", "-s 0",
	} {
		f.Add(strings.ReplaceAll(s, " ", "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		o, err := ParseArgs(args)
		if err != nil {
			return
		}
		if o.Sockets < 1 || o.MaxIdle < -1 || o.MaxUse < -1 || o.Retire < -1 || o.Retire == 0 {
			t.Fatalf("ParseArgs(%q): out-of-range numbers %+v", args, o)
		}
		for _, kv := range o.Overrides {
			if name, _, ok := strings.Cut(kv, "="); !ok || name == "" || name != strings.TrimSpace(name) {
				t.Fatalf("ParseArgs(%q): bad override %q", args, kv)
			}
		}
		if len(o.Args) > len(args) || !slices.Equal(o.Args, args[len(args)-len(o.Args):]) {
			t.Fatalf("ParseArgs(%q): operands %q are not a suffix", args, o.Args)
		}
		_ = o.Check(false)
	})
}

// words splits s on spaces; "_" stands for an empty word.
func words(s string) []string {
	w := strings.Fields(s)
	for i := range w {
		if w[i] == "_" {
			w[i] = ""
		}
	}
	return w
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
