package conf

import (
	"errors"
	"fmt"
	"strings"
)

// maxNesting bounds nested $name references, as Postfix does, so that
// "a = $a" fails instead of looping.
const maxNesting = 100

// maxReferences bounds the work of one expansion, so that values that
// reference each other many times ("a = $b$b$b", "b = $c$c$c", ...) cannot
// take exponential time. Real configurations stay far below it.
const maxReferences = 100000

// ErrMacro is returned when a value cannot be expanded; the details were
// reported as warnings. The text is that of Postfix's fatal message.
var ErrMacro = errors.New("dictionary mail_dict: macro processing error")

// expSpace is the whitespace allowed around {text} operands.
const expSpace = " \t\r\n"

// expander evaluates one value. It collects warnings so that they can be
// delivered after the Config lock is released.
type expander struct {
	c        *Config
	depth    int
	refs     int
	failed   bool
	warnings []string
	// inDomain is set while computing mydomain's default from myhostname,
	// so that a myhostname that mentions $mydomain cannot loop.
	inDomain bool
}

func (e *expander) warnf(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
	e.failed = true
}

// Expand returns s with all macros expanded. Problems are reported through
// the Config's logger and yield a partial result.
func (c *Config) Expand(s string) string {
	v, _ := c.Eval(s)
	return v
}

// Eval is Expand with an error (ErrMacro) for malformed or runaway macros.
func (c *Config) Eval(s string) (string, error) {
	c.mu.RLock()
	e := &expander{c: c}
	v, err := e.eval(s)
	c.mu.RUnlock()
	e.flush()
	return v, err
}

func (e *expander) flush() {
	for _, w := range e.warnings {
		e.c.log.Warnf("%s", w)
	}
}

func (e *expander) eval(s string) (string, error) {
	var out strings.Builder
	e.parse(s, &out)
	if e.failed {
		return out.String(), ErrMacro
	}
	return out.String(), nil
}

// parse copies literal text of s to out and expands each macro reference:
// "$$" is a literal "$", "$name" takes [A-Za-z0-9_]+, "${...}" and "$(...)"
// take everything up to the matching close bracket.
func (e *expander) parse(s string, out *strings.Builder) {
	for i := 0; i < len(s) && !e.failed; {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			out.WriteString(s[i : i+j])
			i += j
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			out.WriteByte('$')
			i += 2
			continue
		}
		i++
		var body string
		if i < len(s) && (s[i] == '{' || s[i] == '(') {
			end := matchBracket(s, i)
			if end < 0 {
				e.warnf("truncated macro reference: \"%s\"", s)
				return
			}
			body, i = s[i+1:end], end+1
		} else {
			j := i
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			body, i = s[i:j], j
		}
		if body == "" {
			e.warnf("empty macro name: \"%s\"", s)
			return
		}
		e.reference(body, out)
	}
}

// matchBracket returns the index of the bracket closing s[open], counting
// only brackets of the same kind, or -1.
func matchBracket(s string, open int) int {
	o := s[open]
	cl := byte('}')
	if o == '(' {
		cl = ')'
	}
	level := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			level++
		case cl:
			level--
			if level == 0 {
				return i
			}
		}
	}
	return -1
}

func isNameChar(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// reference expands the inside of one $name / ${...} reference.
func (e *expander) reference(body string, out *strings.Builder) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxNesting {
		e.warnf("unreasonable macro call nesting: \"%s\"", body)
		return
	}
	if e.refs++; e.refs > maxReferences {
		e.warnf("unreasonable macro expansion: more than %d references", maxReferences)
		return
	}

	var value string // looked-up value or relational result
	var defined bool // whether value exists at all
	var op byte      // 0, '?' or ':'
	rest := body     // text after the operator
	if t := strings.TrimLeft(body, expSpace); strings.HasPrefix(t, "{") {
		v, after, ok := e.relational(t)
		if !ok {
			return
		}
		value, defined, rest = v, true, after
		if rest != "" {
			if rest[0] != '?' && rest[0] != ':' {
				e.warnf("\"?\" or \":\" expected at: \"...}>>>%s\"", clip(rest))
				return
			}
			op, rest = rest[0], rest[1:]
		}
	} else {
		t := strings.TrimLeft(body, expSpace)
		n := 0
		for n < len(t) && isNameChar(t[n]) {
			n++
		}
		name, after := t[:n], strings.TrimLeft(t[n:], expSpace)
		switch {
		case after == "":
		case after[0] == '?' || after[0] == ':':
			op, rest = after[0], after[1:]
		default:
			pos := len(body) - len(t) + n
			e.warnf("attribute name syntax error at: \"...%s>>>%s\"", body[:pos], clip(body[pos:]))
			return
		}
		value, defined = e.lookup(name)
	}

	nonEmpty := defined && value != ""
	switch op {
	case 0:
		if nonEmpty {
			e.parse(value, out) // values are themselves expanded
		}
	case '?':
		text, after, ok := e.operand(rest)
		if !ok {
			return
		}
		if nonEmpty {
			e.parse(text, out)
		}
		if after == "" {
			return
		}
		if after[0] != ':' {
			e.warnf("\":\" expected at: \"...%s}>>>%s\"", text, clip(after))
			return
		}
		e.elseBranch(after[1:], nonEmpty, out)
	case ':':
		e.elseBranch(rest, nonEmpty, out)
	}
}

// elseBranch handles the text after ':', used when the test value is empty.
func (e *expander) elseBranch(rest string, nonEmpty bool, out *strings.Builder) {
	text, after, ok := e.operand(rest)
	if !ok {
		return
	}
	if !nonEmpty {
		e.parse(text, out)
	}
	if after != "" {
		e.warnf("unexpected input at: \"...%s}>>>%s\"", text, clip(after))
	}
}

// operand returns a conditional result: a {braced} payload (blanks around it
// ignored) plus what follows, or else all of s as plain text.
func (e *expander) operand(s string) (text, after string, ok bool) {
	if t := strings.TrimLeft(s, expSpace); strings.HasPrefix(t, "{") {
		return e.curly(t)
	}
	return s, "", true
}

// curly extracts the payload of the balanced {...} at the start of s and
// returns it with the remainder after trailing blanks.
func (e *expander) curly(s string) (payload, after string, ok bool) {
	end := matchBracket(s, 0)
	if end < 0 {
		e.warnf("unbalanced {} in attribute expression: \"%s\"", s)
		return "", "", false
	}
	return s[1:end], strings.TrimLeft(s[end+1:], expSpace), true
}

// Relational operators, longest first so "<=" wins over "<".
var relOps = []string{"==", "!=", "<=", ">=", "<", ">"}

// relational evaluates "{a} op {b}" at the start of s and returns "true" or
// "" plus the text after the right operand.
func (e *expander) relational(s string) (result, after string, ok bool) {
	left, rest, ok := e.curly(s)
	if !ok {
		return "", "", false
	}
	n := 0
	for n < len(rest) && strings.IndexByte("<>!=?+-*/~&|%", rest[n]) >= 0 {
		n++
	}
	op := rest[:n]
	if !validOp(op) {
		// The doubled quotes are in Postfix's own message.
		e.warnf("\"==\" or \"!=\"\" or \"<\"\" or \"<=\"\" or \">=\"\" or \">\" expected at: \"...%s}>>>%s\"", left, clip(rest))
		return "", "", false
	}
	rest = rest[n:]
	suffix := ""
	if rest != "" && isAlnum(rest[0]) {
		m := 0
		for m < len(rest) && isAlnum(rest[m]) {
			m++
		}
		suffix, rest = rest[:m], rest[m:]
		if suffix != "level" {
			e.warnf("bad operator suffix at: \"...%s>>>%s\"", op, suffix)
			return "", "", false
		}
	}
	t := strings.TrimLeft(rest, expSpace)
	if !strings.HasPrefix(t, "{") {
		e.warnf("\"{expression}\" expected at: \"...{%s} %s>>>%s\"", left, op, clip(rest))
		return "", "", false
	}
	right, after, ok := e.curly(t)
	if !ok {
		return "", "", false
	}

	var l, r strings.Builder
	e.parse(left, &l)
	e.parse(right, &r)
	if e.failed {
		return "", "", false
	}
	var cmp int
	if suffix == "level" {
		var err error
		if cmp, err = CompareCompatLevels(l.String(), r.String()); err != nil {
			e.warnf("%s", err)
			return "", "", false
		}
	} else {
		cmp = compareValues(l.String(), r.String())
	}
	if opHolds(op, cmp) {
		return "true", after, true
	}
	return "", after, true
}

func validOp(op string) bool {
	for _, o := range relOps {
		if op == o {
			return true
		}
	}
	return false
}

func opHolds(op string, cmp int) bool {
	switch op {
	case "==":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">=":
		return cmp >= 0
	}
	return cmp > 0 // ">"
}

func isAlnum(b byte) bool { return b != '_' && isNameChar(b) }

// compareValues compares numerically when both sides are non-empty digit
// strings (without overflow), else byte-wise.
func compareValues(a, b string) int {
	if allDigits(a) && allDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens s to the 20 bytes Postfix shows after ">>>".
func clip(s string) string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// lookup returns the raw value of name: the explicit setting, else the
// table default; defined is false for unknown, unset names.
func (e *expander) lookup(name string) (value string, defined bool) {
	if v, ok := e.c.values[name]; ok {
		return v, true
	}
	if e.inDomain && name == "mydomain" {
		return "", false
	}
	p, ok := e.c.defaults[name]
	if !ok {
		return "", false
	}
	if p.Runtime {
		// Computed values are final: protect any '$' from re-expansion.
		return strings.ReplaceAll(e.runtimeDefault(name), "$", "$$"), true
	}
	return p.Default, true
}
