package maps

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"tlsproxy/internal/logs"
)

// reRule is one rule of a regexp: or pcre: table: a match rule (pattern,
// optional second pattern, value) or an IF block of rules.
type reRule struct {
	re     *regexp.Regexp
	match  bool // false: the rule applies when re does not match
	re2    *regexp.Regexp
	match2 bool
	value  string
	block  []reRule // IF ... ENDIF: the rules inside
	isIf   bool
	line   int // where the rule starts
}

type reTable struct{ rules []reRule }

func (t *reTable) get(key string) (string, bool, bool, error) {
	v, ok := lookupRules(t.rules, key)
	return v, false, ok, nil
}

func lookupRules(rules []reRule, key string) (string, bool) {
	for i := range rules {
		r := &rules[i]
		if r.re.MatchString(key) != r.match {
			continue
		}
		if r.isIf {
			if v, ok := lookupRules(r.block, key); ok {
				return v, true
			}
			continue
		}
		if r.re2 != nil && r.re2.MatchString(key) != r.match2 {
			continue
		}
		return r.value, true
	}
	return "", false
}

// openRegexp reads a regexp: or pcre: table. Patterns become Go (RE2)
// regular expressions: a rule whose pattern RE2 cannot express
// (back-references, look-around, possessive or atomic groups, ...) is
// skipped with a warning that says so.
func openRegexp(typ, path string, env Env) table {
	data, err := os.ReadFile(path)
	if err != nil {
		return newSurrogate(typ, path, fmt.Sprintf("open %s: %s", path, errnoText(err)), env)
	}
	return parseRegexp(typ, path, data, env.Log, readFiles)
}

// parseRegexp parses the rules of a regexp: or pcre: table; load turns a
// value into the files' contents (an error skips the rule).
func parseRegexp(typ, path string, data []byte, log logs.Logger, load func(string) (string, error)) *reTable {
	p := reParser{typ: typ, path: path, log: log, load: load}
	lines := logicalLines(data, path, log)
	var (
		stack [][]reRule // enclosing blocks' rules
		ifs   []reRule   // the IF rule of each open block
		cur   []reRule
	)
	for _, ll := range lines {
		s := ll.text
		p.line = ll.line
		switch {
		case !isAlnum(s[0]):
			if r, ok := p.matchRule(s); ok {
				cur = append(cur, r)
			}
		case hasWord(s, "if"):
			r, ok := p.ifRule(s[2:])
			if !ok {
				continue
			}
			stack = append(stack, cur)
			ifs = append(ifs, r)
			cur = nil
		case hasWord(s, "endif"):
			if len(stack) == 0 {
				p.warnf("ignoring ENDIF without matching IF")
				continue
			}
			if rest := strings.TrimLeftFunc(s[5:], isSpaceRune); rest != "" {
				p.warnf("ignoring extra text after ENDIF")
			}
			r := ifs[len(ifs)-1]
			r.block = cur
			ifs = ifs[:len(ifs)-1]
			cur = append(stack[len(stack)-1], r)
			stack = stack[:len(stack)-1]
		default:
			p.warnf("ignoring unrecognized request")
		}
	}
	for len(stack) > 0 {
		r := ifs[len(ifs)-1]
		p.line = r.line
		p.warnf("IF has no matching ENDIF")
		r.block = cur
		ifs = ifs[:len(ifs)-1]
		cur = append(stack[len(stack)-1], r)
		stack = stack[:len(stack)-1]
	}
	return &reTable{rules: cur}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// hasWord: s starts with word (any case) not followed by an alphanumeric.
func hasWord(s, word string) bool {
	return len(s) >= len(word) && strings.EqualFold(s[:len(word)], word) &&
		(len(s) == len(word) || !isAlnum(s[len(word)]))
}

type reParser struct {
	typ, path string
	line      int
	log       logs.Logger
	load      func(string) (string, error)
}

func (p *reParser) warnf(format string, a ...any) {
	p.log.Warnf("%s map %s, line %d: %s", p.typ, p.path, p.line, fmt.Sprintf(format, a...))
}

// pattern is one /regexp/flags as written.
type pattern struct {
	text  string
	flags string
	match bool
}

// getPattern reads [!...]<delim>text<delim>flags from s.
func (p *reParser) getPattern(s string) (pattern, string, bool) {
	pat := pattern{match: true}
	i := 0
	for ; i < len(s); i++ {
		if s[i] == '!' {
			pat.match = !pat.match
		} else if !isSpace(s[i]) {
			break
		}
	}
	if i == len(s) {
		p.warnf("no regexp: skipping this rule")
		return pat, "", false
	}
	delim := s[i]
	i++
	start := i
	for i < len(s) {
		if s[i] == '\\' {
			if i+1 < len(s) {
				i++
			} else {
				break
			}
		} else if s[i] == delim {
			break
		}
		i++
	}
	if i >= len(s) || s[i] != delim {
		if p.typ == "pcre" {
			p.warnf("no closing regexp delimiter \"%c\": ignoring this rule", delim)
		} else {
			p.warnf("no closing regexp delimiter \"%c\": skipping this rule", delim)
		}
		return pat, "", false
	}
	pat.text = s[start:i]
	i++
	start = i
	for i < len(s) && !isSpace(s[i]) && (p.typ == "pcre" || s[i] != '!') {
		i++
	}
	pat.flags = s[start:i]
	return pat, s[i:], true
}

// toggle flips, for each letter of flags, the option opts names by it;
// an unknown letter is warned about and makes it return false.
func (p *reParser) toggle(flags string, opts map[rune]*bool) bool {
	for _, f := range flags {
		o := opts[f]
		if o == nil {
			p.warnf("unknown regexp option \"%c\": skipping this rule", f)
			return false
		}
		*o = !*o
	}
	return true
}

// compile turns a pattern into a Go regexp under the table type's flags.
func (p *reParser) compile(pat pattern) (*regexp.Regexp, bool) {
	text := pat.text
	var prefix string
	if p.typ == "regexp" {
		icase, newline, extended := true, false, true
		if !p.toggle(pat.flags, map[rune]*bool{'i': &icase, 'm': &newline, 'x': &extended}) {
			return nil, false
		}
		if !extended {
			p.warnf("basic regular expressions (option \"x\") are not supported by this implementation" +
				" (Go's regexp, RE2, reads extended ones): skipping this rule")
			return nil, false
		}
		if icase {
			prefix += "i"
		}
		if newline {
			prefix += "m"
		} else {
			prefix += "s"
		}
	} else {
		icase, dotall, multiline, extended, anchored, ungreedy := true, true, false, false, false, false
		// $ only at the very end (E): Go's $ is that already without m;
		// PCRE's extra checks (X): nothing to do.
		var endOnly, extra bool
		if !p.toggle(pat.flags, map[rune]*bool{'i': &icase, 'm': &multiline, 's': &dotall, 'x': &extended,
			'A': &anchored, 'U': &ungreedy, 'E': &endOnly, 'X': &extra}) {
			return nil, false
		}
		if extended {
			text = stripExtended(text)
		}
		if anchored {
			text = `\A(?:` + text + `)`
		}
		for _, o := range []struct {
			on bool
			c  string
		}{{icase, "i"}, {multiline, "m"}, {dotall, "s"}, {ungreedy, "U"}} {
			if o.on {
				prefix += o.c
			}
		}
	}
	if prefix != "" {
		text = "(?" + prefix + ")" + text
	}
	re, err := regexp.Compile(text)
	if err != nil {
		p.warnf("%s: Go's regexp (RE2) cannot do this: skipping this rule", reErrText(err))
		return nil, false
	}
	return re, true
}

// reErrText shortens Go's regexp error ("error parsing regexp: ...").
func reErrText(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// stripExtended removes what PCRE's extended option ignores: unescaped
// white space and #-comments outside character classes.
func stripExtended(s string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(s) && s[i+1] == ']' { // "[]...]": the ] is literal
				b.WriteString("[]")
				i++
				continue
			}
		case isSpace(c):
			continue
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *reParser) matchRule(s string) (reRule, bool) {
	first, rest, ok := p.getPattern(s)
	if !ok {
		return reRule{}, false
	}
	var second *pattern
	if strings.HasPrefix(rest, "!") && p.typ == "regexp" {
		sp, r, ok := p.getPattern(rest)
		if !ok {
			return reRule{}, false
		}
		second, rest = &sp, r
	}
	value := strings.TrimLeftFunc(rest, isSpaceRune)
	if value == "" {
		p.warnf("no replacement text: using empty string")
	}
	data, err := p.load(value)
	if err != nil {
		p.warnf("%v: skipping this rule", err)
		return reRule{}, false
	}
	re, ok := p.compile(first)
	if !ok {
		return reRule{}, false
	}
	r := reRule{re: re, match: first.match, value: data}
	if second != nil {
		if r.re2, ok = p.compile(*second); !ok {
			return reRule{}, false
		}
		r.match2 = second.match
	}
	return r, true
}

func (p *reParser) ifRule(s string) (reRule, bool) {
	s = strings.TrimLeftFunc(s, isSpaceRune)
	pat, rest, ok := p.getPattern(s)
	if !ok {
		return reRule{}, false
	}
	if rest = strings.TrimLeftFunc(rest, isSpaceRune); rest != "" {
		p.warnf("ignoring extra text after IF statement: \"%s\"", rest)
		p.warnf("do not prepend whitespace to statements between IF and ENDIF")
	}
	re, ok := p.compile(pat)
	if !ok {
		return reRule{}, false
	}
	return reRule{re: re, match: pat.match, isIf: true, line: p.line}, true
}
