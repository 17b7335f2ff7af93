package maps

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"tlsproxy/internal/logs"
)

// Env is what opening tables needs from the process.
type Env struct {
	// CommandDir and ConfigDir locate "postmap" (command_directory) and
	// the configuration it must read (config_directory), for hash:,
	// btree: and lmdb: tables.
	CommandDir, ConfigDir string
	// Log receives start-up and lookup problems, at Postfix's
	// "warning:" and "error:" severities; nil: discard.
	Log logs.Logger
	// Timeout bounds one postmap run; 0 means a minute.
	Timeout time.Duration
}

// ErrLookup is the error of a lookup that failed (the table could not be
// opened or read, or its value is unusable): the details have been logged.
var ErrLookup = errors.New("table lookup error")

// table is one opened type:name.
type table interface {
	// get returns the value for key (already folded when the table is
	// of fixed strings). A base64 value is decoded by the caller when
	// b64 is true.
	get(key string) (value string, b64, found bool, err error)
}

type entry struct {
	typ, name string
	fold      bool // fixed-string table: key in lower case
	t         table
	watch     *watched
}

// Maps is an opened list of tables, searched in order.
type Maps struct {
	title   string
	env     Env
	entries []entry
	// Unsupported lists the type:name of each table that is never
	// consulted (a type this implementation cannot read).
	Unsupported []string
}

// Open opens the tables of spec (a tls_server_sni_maps value: type:name
// items separated by commas or white space, braces grouping) whose values
// list files. title names the parameter in log lines. A malformed item
// (no "type:name" form) is an error, fatal for the caller, as in Postfix.
func Open(title, spec string, env Env) (*Maps, error) {
	env.Log = logs.OrDiscard(env.Log)
	m := &Maps{title: title, env: env}
	items, err := splitList(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", title, err)
	}
	for _, item := range items {
		typ, name, ok := strings.Cut(item, ":")
		if !ok || typ == "" || name == "" {
			return nil, fmt.Errorf("open dictionary: expecting \"type:name\" form instead of \"%s\"", item)
		}
		e := entry{typ: typ, name: name, fold: true}
		switch typ {
		case "texthash":
			e.t = openTexthash(name, env)
		case "inline":
			e.t = openInline(name, env)
		case "static":
			e.t = openStatic(name, env)
		case "fail":
			e.t = failTable{}
		case "regexp", "pcre":
			e.t, e.fold = openRegexp(typ, name, env), false
		case "cdb":
			e.t, e.watch = openCDB(name, env)
		case "hash", "btree", "lmdb":
			e.t, e.watch = openPostmap(typ, name, env)
		default:
			env.Log.Warnf("%s: table type \"%s\" of %s is not supported by this implementation:"+
				" the names it would match get the default chain", title, typ, item)
			m.Unsupported = append(m.Unsupported, item)
			continue
		}
		m.entries = append(m.entries, e)
	}
	return m, nil
}

// Title is the parameter name given to Open.
func (m *Maps) Title() string { return m.title }

// Find looks key up in each table in turn, as Postfix's maps_file_find:
// the first table that has it gives the file contents; a table that fails
// ends the search with ErrLookup (after a warning naming it). An empty
// value is a configuration error. found=false, err=nil: no table has key.
func (m *Maps) Find(key string) (value string, found bool, err error) {
	if key == "" {
		return "", false, nil
	}
	for _, e := range m.entries {
		k := key
		if e.fold {
			k = lowerASCII(k)
		}
		v, b64, ok, err := e.t.get(k)
		if err != nil {
			m.env.Log.Warnf("%s:%s lookup error for \"%s\"", e.typ, e.name, key)
			return "", false, ErrLookup
		}
		if !ok {
			continue
		}
		if v == "" {
			m.env.Log.Warnf("%s lookup of %s returns an empty string result", m.title, key)
			m.env.Log.Warnf("%s should return NO RESULT in case of NOT FOUND", m.title)
			return "", false, ErrLookup
		}
		if b64 {
			d, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				m.env.Log.Warnf("table %s:%s: key %s: malformed BASE64 value: %.30s", e.typ, e.name, key, v)
				return "", false, ErrLookup
			}
			v = string(d)
		}
		return v, true, nil
	}
	return "", false, nil
}

// Changed returns the name of the first indexed table whose file has been
// rewritten or removed since it was opened ("" if none), in the form
// Postfix's log line gives it: type:name followed by the open mode and the
// table flags of tls_server_sni_maps.
func (m *Maps) Changed() string {
	for _, e := range m.entries {
		if e.watch != nil && e.watch.changed() {
			return e.typ + ":" + e.name + "(0,lock|fold_fix|src_rhs_is_file)"
		}
	}
	return ""
}

// watched is an open indexed table file and its modification time.
type watched struct {
	f     *os.File
	mtime syscall.Timespec
}

func watch(f *os.File) *watched {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil
	}
	return &watched{f: f, mtime: st.Mtim}
}

// changed compares the modification time, as Postfix's dict_changed_name
// (to the nanosecond, where Postfix sees whole seconds only), and sees a
// file with no name left as changed.
func (w *watched) changed() bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.f.Fd()), &st); err != nil {
		return true
	}
	return st.Mtim != w.mtime || st.Nlink == 0
}

// surrogate is a table that could not be opened: every lookup logs why
// and fails.
type surrogate struct {
	typ, name, reason string
	log               logs.Logger
}

func newSurrogate(typ, name, reason string, env Env) *surrogate {
	env.Log.Errorf("%s", reason)
	return &surrogate{typ: typ, name: name, reason: reason, log: env.Log}
}

func (s *surrogate) get(string) (string, bool, bool, error) {
	s.log.Warnf("%s:%s is unavailable. %s", s.typ, s.name, s.reason)
	return "", false, false, ErrLookup
}

// fixed is a table of fixed strings held in memory.
type fixed struct {
	m   map[string]string
	b64 bool
}

func (f *fixed) get(key string) (string, bool, bool, error) {
	v, ok := f.m[key]
	return v, f.b64, ok, nil
}

// lowerASCII folds A-Z only, as Postfix's lowercase().
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// splitList splits s at commas and white space, keeping text in braces
// (which may nest) together, as Postfix's mystrtokq.
func splitList(s string) ([]string, error) {
	var out []string
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth == 0 && (c == ',' || isSpace(c)):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		case c == '{':
			depth++
		case c == '}':
			if depth > 0 {
				depth--
			}
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out, nil
}

// readFiles reads the files a value lists (separated by commas or white
// space) and joins their contents with a newline, as Postfix's
// dict_file_to_buf. The error text is Postfix's.
func readFiles(list string) (string, error) {
	names := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r < 0x80 && isSpace(byte(r)) })
	if len(names) == 0 {
		return "", fmt.Errorf("empty pathname list: >>%s<<'", list)
	}
	var b strings.Builder
	for i, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				if pe.Op == "open" {
					return "", fmt.Errorf("open %s: %s", n, errnoText(pe.Err))
				}
				return "", fmt.Errorf("read %s: %s", n, errnoText(pe.Err))
			}
			return "", err
		}
		b.Write(data)
		if i < len(names)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// errnoText is strerror's text for an errno ("No such file or
// directory"), as Postfix's %m gives it.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
