package maps

import (
	"fmt"
	"os"
	"strings"

	"tlsproxy/internal/logs"
)

// logicalLine is one logical line of a Postfix text file and the number
// of the line it starts on.
type logicalLine struct {
	text string
	line int
}

// logicalLines splits data as Postfix's readllines: lines that are empty,
// white space only, or whose first non-blank character is '#' are
// dropped; a line that starts with white space continues the previous
// one (joined without the newline). Text that continues nothing is warned
// about and dropped. path names the file in warnings.
func logicalLines(data []byte, path string, log logs.Logger) []logicalLine {
	var (
		out  []logicalLine
		cur  []byte
		from int
	)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		if isSpace(cur[0]) {
			more := ""
			if len(cur) > 30 {
				more = "..."
			}
			log.Warnf("%s: logical line must not start with whitespace: \"%.30s%s\"", path, cur, more)
		} else {
			out = append(out, logicalLine{text: string(cur), line: from})
		}
		cur = nil
	}
	lineno := 0
	for len(data) > 0 {
		var line []byte
		if i := indexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineno++
		j := 0
		for j < len(line) && isSpace(line[j]) {
			j++
		}
		if j == len(line) || line[j] == '#' {
			continue // comment, blank: neither ends nor continues a line
		}
		if j == 0 { // starts a new logical line
			flush()
			from = lineno
		} else if len(cur) == 0 {
			from = lineno
		}
		cur = append(cur, line...)
	}
	flush()
	return out
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// openTexthash reads a texthash: table ("key whitespace value" lines,
// keys possibly in double quotes, backslash escapes the next character
// while splitting) and the files of each value.
func openTexthash(path string, env Env) table {
	data, err := os.ReadFile(path)
	if err != nil {
		return newSurrogate("texthash", path, fmt.Sprintf("open database %s: %s", path, errnoText(err)), env)
	}
	t, reason := parseTexthash(data, path, env.Log, readFiles)
	if reason != "" {
		return newSurrogate("texthash", path, reason, env)
	}
	return t
}

// parseTexthash parses a texthash source. load turns a value into the
// table's value (reads its files); its error skips the entry. A
// duplicate key makes the whole table unusable (reason != ""), as Postfix
// does without a duplicate-handling flag.
func parseTexthash(data []byte, path string, log logs.Logger, load func(string) (string, error)) (*fixed, string) {
	t := &fixed{m: map[string]string{}}
	for _, ll := range logicalLines(data, path, log) {
		s := ll.text
		inQuotes := false
		i := 0
	scan:
		for ; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\':
				i++
				if i >= len(s) {
					break scan
				}
			case isSpace(c):
				if !inQuotes {
					break scan
				}
			case c == '"':
				inQuotes = !inQuotes
			}
		}
		if inQuotes {
			log.Warnf("%s, line %d: unbalanced '\"' in '%s' -- ignoring this line", path, ll.line, s)
			continue
		}
		if i > len(s) {
			i = len(s)
		}
		key := s[:i]
		value := strings.TrimRightFunc(strings.TrimLeftFunc(s[min(i+1, len(s)):], isSpaceRune), isSpaceRune)
		if i == len(s) {
			value = ""
		}
		if key == "" || value == "" {
			log.Warnf("%s, line %d: expected format: key whitespace value -- ignoring this line", path, ll.line)
			continue
		}
		if strings.HasSuffix(key, ":") {
			log.Warnf("%s, line %d: record is in \"key: value\" format; is this an alias file?", path, ll.line)
		}
		v, err := load(value)
		if err != nil {
			log.Warnf("%s, line %d: %v: skipping this entry", path, ll.line, err)
			continue
		}
		key = lowerASCII(key)
		if _, dup := t.m[key]; dup {
			return nil, fmt.Sprintf("%s, line %d: duplicate entry: \"%s\"", path, ll.line, key)
		}
		t.m[key] = v
	}
	return t, ""
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) }

// openInline parses inline:{ key=value, { key = value }, ... }.
func openInline(name string, env Env) table {
	t, reason := parseInline(name, readFiles)
	if reason != "" {
		return newSurrogate("inline", name, reason, env)
	}
	return t
}

// parseInline parses the name of an inline: table; reason != "" when it
// is unusable (Postfix's wording).
func parseInline(name string, load func(string) (string, error)) (*fixed, string) {
	bad := func(why string) (*fixed, string) {
		return nil, fmt.Sprintf("%s: \"inline:%s\"; need \"inline:{name=filename...}\"", why, name)
	}
	inner, err := unBrace(name)
	if err != "" {
		return bad(err)
	}
	items, _ := splitList(inner)
	if len(items) == 0 {
		return bad("empty table")
	}
	t := &fixed{m: map[string]string{}}
	for _, it := range items {
		k, v, why := splitNameValue(it)
		if why != "" {
			return bad(why)
		}
		data, err := load(v)
		if err != nil {
			return bad(err.Error())
		}
		t.m[lowerASCII(k)] = data // later duplicates replace, as dict_ht's update
	}
	return t, ""
}

// unBrace removes one pair of enclosing braces and the white space inside
// them; text without braces is returned as is.
func unBrace(s string) (string, string) {
	s = strings.TrimFunc(s, isSpaceRune)
	if !strings.HasPrefix(s, "{") {
		return s, ""
	}
	if !strings.HasSuffix(s, "}") {
		return "", "missing '}' at end of text"
	}
	return strings.TrimFunc(s[1:len(s)-1], isSpaceRune), ""
}

// splitNameValue splits "name=value" or "{ name = value }".
func splitNameValue(s string) (string, string, string) {
	s, why := unBrace(s)
	if why != "" {
		return "", "", why
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", "missing '=' after attribute name"
	}
	k = strings.TrimFunc(k, isSpaceRune)
	v = strings.TrimFunc(v, isSpaceRune)
	if k == "" {
		return "", "", "missing attribute name"
	}
	return k, v, ""
}

// openStatic: static:files (or static:{ files }) answers every key with
// the contents of the files.
func openStatic(name string, env Env) table {
	v, why := unBrace(name)
	if why != "" {
		return newSurrogate("static", name, fmt.Sprintf("static:%s: %s", name, why), env)
	}
	data, err := readFiles(v)
	if err != nil {
		return newSurrogate("static", name, err.Error(), env)
	}
	return staticTable(data)
}

type staticTable string

func (s staticTable) get(string) (string, bool, bool, error) { return string(s), false, true, nil }

// failTable (fail:name) fails every lookup, silently: the caller logs.
type failTable struct{}

func (failTable) get(string) (string, bool, bool, error) { return "", false, false, ErrLookup }
