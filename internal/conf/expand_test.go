package conf

import (
	"errors"
	"strings"
	"testing"

	"tlsproxy/internal/logs"
)

// newTestConfig builds a Config from name=value pairs with a fixed host name.
func newTestConfig(t *testing.T, rec *recorder, kv ...string) *Config {
	t.Helper()
	var log logs.Logger
	if rec != nil {
		log = logs.Lines(rec.warn)
	}
	c, err := Parse("main.cf", strings.NewReader(""), log)
	if err != nil {
		t.Fatal(err)
	}
	c.hostname = "host.example.com"
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}

func TestExpand(t *testing.T) {
	vars := []string{
		"a", "A",
		"b", "$a-$a",
		"empty", "",
		"n5", "5",
		"n10", "10",
		"self", "x$self",
		"ping", "$pong",
		"pong", "$ping",
		"lit", "$$a",
		"spacey", "1 2",
		"bad", "${a",
	}
	tests := []struct {
		in       string
		want     string
		wantWarn string // substring of the (first) warning; implies ErrMacro
	}{
		{in: "", want: ""},
		{in: "plain text", want: "plain text"},
		{in: "$a", want: "A"},
		{in: "${a}", want: "A"},
		{in: "$(a)", want: "A"},
		{in: "x$a.y", want: "xA.y"},
		{in: "$a_b", want: ""}, // the name is "a_b"
		{in: "${a}_b", want: "A_b"},
		{in: "$undefined", want: ""},
		{in: "$b", want: "A-A"}, // recursive
		{in: "$$", want: "$"},
		{in: "$$a", want: "$a"},
		{in: "$lit", want: "$a"}, // "$$" in a value is literal once
		{in: "a$$$a", want: "a$A"},
		{in: "${ a }", want: "A"},
		{in: "${a?yes}", want: "yes"},
		{in: "${empty?yes}", want: ""},
		{in: "${undefined?yes}", want: ""},
		{in: "${a:no}", want: ""},
		{in: "${empty:no}", want: "no"},
		{in: "${undefined:no}", want: "no"},
		{in: "${a?{ yes }}", want: " yes "},
		{in: "${a ? {yes}}", want: "yes"},
		{in: "${a?$b}", want: "A-A"},
		{in: "${a?x:y}", want: "x:y"}, // unbraced text runs to the end
		{in: "${a?{x}:{y}}", want: "x"},
		{in: "${empty?{x}:{y}}", want: "y"},
		{in: "${undefined?{x} : {y}}", want: "y"},
		{in: "${a?{x}:y z}", want: "x"},
		{in: "${empty?{x}:y z}", want: "y z"},
		{in: "${a?{{nested}}}", want: "{nested}"},
		{in: "${empty:{${a?{$n5}}}}", want: "5"},
		{in: "${{$a} == {A} ? {eq} : {ne}}", want: "eq"},
		{in: "${{$a} != {A} ? {eq} : {ne}}", want: "ne"},
		{in: "${{$a} == {A}}", want: "true"},
		{in: "${{$a} == {B}}", want: ""},
		{in: "${{$n5} < {$n10}?{lt}:{ge}}", want: "lt"}, // numeric
		{in: "${{5} < {10}?{lt}:{ge}}", want: "lt"},
		{in: "${{5x} < {10x}?{lt}:{ge}}", want: "ge"}, // lexicographic
		{in: "${{007} == {7}?{eq}:{ne}}", want: "eq"},
		{in: "${{99999999999999999999} > {1}?{gt}:{le}}", want: "gt"}, // Postfix: fatal overflow
		{in: "[${a?{ yes }}]", want: "[ yes ]"},
		{in: "${{2} <= {2}?{y}:{n}}", want: "y"},
		{in: "${{2} >= {3}?{y}:{n}}", want: "n"},
		{in: "${{3} > {2}?{y}:{n}}", want: "y"},
		{in: "${{3.6} <level {3.6} ? {md5} : {sha256}}", want: "sha256"},
		{in: "${{0} <level {3.6} ? {md5} : {sha256}}", want: "md5"},
		{in: "${{2} <level {3.6} ? {md5} : {sha256}}", want: "md5"},
		{in: "${{3.10} >level {3.9} ? {y} : {n}}", want: "y"},
		{in: "${{3.6.1} >level {3.6} ? {y} : {n}}", want: "y"},
		{in: "${{3.6.0} ==level {3.6} ? {y} : {n}}", want: "y"},
		{in: "${{3.7} <=level {3.6} ? {y} : {n}}", want: "n"},
		{in: "${{3.7} >=level {3.6} ? {y} : {n}}", want: "y"},
		{in: "${{3.7} !=level {3.6} ? {y} : {n}}", want: "y"},
		{in: "${{$spacey} == {1 2}?{y}:{n}}", want: "y"},
		{in: "${{a} == {a} ? {x}}", want: "x"},
		{in: "${{a} == {b} : {x}}", want: "x"},

		// Errors: a warning and ErrMacro.
		{in: "${a", wantWarn: `truncated macro reference: "${a"`},
		{in: "x $(a", wantWarn: "truncated macro reference"},
		{in: "$", wantWarn: `empty macro name: "$"`},
		{in: "a $ b", wantWarn: "empty macro name"},
		{in: "${}", wantWarn: "empty macro name"},
		{in: "$self", wantWarn: `unreasonable macro call nesting: "self"`},
		{in: "$ping", wantWarn: "unreasonable macro call nesting"},
		{in: "$bad", wantWarn: "truncated macro reference"},
		{in: "${a b}", wantWarn: `attribute name syntax error at: "...a>>> b"`},
		{in: "${a-b}", wantWarn: "attribute name syntax error"},
		{in: "${a?{x}y}", wantWarn: `":" expected at: "...x}>>>y"`},
		{in: "${empty?{x}:{y}z}", wantWarn: `unexpected input at: "...y}>>>z"`},
		{in: "${a?{x}", wantWarn: "truncated macro reference"},
		{in: "${a?{x}:{y}", wantWarn: "truncated macro reference"},
		{in: "${{a} = {b}}", wantWarn: `"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>= {b}"`},
		{in: "${{a} == b}", wantWarn: `"{expression}" expected at: "...{a} ==>>> b"`},
		{in: "${{a} ==foo {b}}", wantWarn: `bad operator suffix at: "...==>>>foo"`},
		{in: "${{a} == {b} x}", wantWarn: `"?" or ":" expected at: "...}>>>x"`},
		{in: "${{x} <level {3.6}}", wantWarn: `malformed compatibility level syntax: "x"`},
		{in: "${{3.1024} <level {3.6}}", wantWarn: "malformed compatibility level syntax"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var rec recorder
			c := newTestConfig(t, &rec, vars...)
			got, err := c.Eval(tc.in)
			if tc.wantWarn != "" {
				if !errors.Is(err, ErrMacro) {
					t.Fatalf("Eval(%q) err = %v, want ErrMacro", tc.in, err)
				}
				if len(rec.msgs) == 0 || !strings.Contains(rec.msgs[0], tc.wantWarn) {
					t.Fatalf("warnings %q, want containing %q", rec.msgs, tc.wantWarn)
				}
				return
			}
			if err != nil || len(rec.msgs) != 0 {
				t.Fatalf("Eval(%q) err = %v, warnings %q", tc.in, err, rec.msgs)
			}
			if got != tc.want {
				t.Errorf("Eval(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if e := c.Expand(tc.in); e != got {
				t.Errorf("Expand(%q) = %q, Eval gave %q", tc.in, e, got)
			}
		})
	}
}

// TestExpandNestingBound checks that a long but finite chain still expands
// while one past the bound fails.
func TestExpandNestingBound(t *testing.T) {
	for _, tc := range []struct {
		links   int
		wantErr bool
	}{{links: maxNesting - 1}, {links: maxNesting + 1, wantErr: true}} {
		c := newTestConfig(t, nil)
		for i := 0; i < tc.links; i++ {
			c.Set(chainName(i), "$"+chainName(i+1))
		}
		c.Set(chainName(tc.links), "end")
		got, err := c.Eval("$" + chainName(0))
		if tc.wantErr != (err != nil) {
			t.Errorf("%d links: err = %v", tc.links, err)
		}
		if !tc.wantErr && got != "end" {
			t.Errorf("%d links: got %q", tc.links, got)
		}
	}
}

func chainName(i int) string { return "v" + strings.Repeat("x", i) }

func TestCompareCompatLevels(t *testing.T) {
	tests := []struct {
		a, b    string
		want    int
		wantErr bool
	}{
		{a: "0", b: "0", want: 0},
		{a: "0", b: "1", want: -1},
		{a: "2", b: "3.6", want: -1},
		{a: "3.6", b: "3.6.0", want: 0},
		{a: "3.6.1", b: "3.6", want: 1},
		{a: "3.10", b: "3.9", want: 1},
		{a: "10", b: "9.1023.1023", want: 1},
		{a: "", b: "1", wantErr: true},
		{a: "3.", b: "1", wantErr: true},
		{a: "1.2.3.4", b: "1", wantErr: true},
		{a: "-1", b: "1", wantErr: true},
		{a: "1", b: "3.1024", wantErr: true},
		{a: "1", b: "three", wantErr: true},
	}
	for _, tc := range tests {
		got, err := CompareCompatLevels(tc.a, tc.b)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("CompareCompatLevels(%q, %q) = %d, %v; want %d, err %v", tc.a, tc.b, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestExpandWorkBound checks that exponentially growing expansions stop.
func TestExpandWorkBound(t *testing.T) {
	var rec recorder
	c := newTestConfig(t, &rec)
	for i := 0; i < 30; i++ {
		r := "$" + chainName(i+1)
		c.Set(chainName(i), r+r+r)
	}
	if _, err := c.Eval("$" + chainName(0)); !errors.Is(err, ErrMacro) {
		t.Fatalf("err = %v", err)
	}
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "unreasonable macro expansion") {
		t.Errorf("warnings %q", rec.msgs)
	}
}
