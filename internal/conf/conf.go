package conf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"tlsproxy/internal/logs"
)

// DefaultDir is the configuration directory used when neither -c nor
// MAIL_CONFIG names one.
const DefaultDir = "/etc/postfix"

// Config holds the explicit parameter settings of one main.cf plus its -o
// overrides. Values are stored raw and expanded when read. A Config is safe
// for concurrent use.
type Config struct {
	mu       sync.RWMutex
	values   map[string]string // explicit settings, unexpanded
	log      logs.Logger       // never nil
	hostname string            // gethostname() result for myhostname's default
	progname string            // basename(argv[0]) for process_name's default
	defaults map[string]Param  // Defaults, or those of another release (SetRelease)
	release  Release           // whose defaults these are
}

func newConfig(log logs.Logger) *Config {
	host, _ := os.Hostname()
	return &Config{
		values:   make(map[string]string),
		log:      logs.OrDiscard(log),
		hostname: host,
		progname: filepath.Base(os.Args[0]),
		defaults: Defaults,
		release:  BaseRelease,
	}
}

// Load reads dir/main.cf (dir "" means DefaultDir) and then applies master.cf
// style "-o name=value" overrides, which are stored raw. config_directory is
// set to dir first, as Postfix does. Non-fatal problems go to log (may be
// nil); fatal ones are returned with Postfix wording.
func Load(dir string, overrides []string, log logs.Logger) (*Config, error) {
	if dir == "" {
		dir = DefaultDir
	}
	path := dir + "/main.cf"
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError reads "open /etc/postfix/main.cf: ..."
	}
	defer f.Close()
	c := newConfig(log)
	c.values["config_directory"] = dir
	if err := c.read(path, f); err != nil {
		return nil, err
	}
	for _, o := range overrides {
		if err := c.SetOption(o); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Parse reads main.cf text from r; name is the file name used in messages.
func Parse(name string, r io.Reader, log logs.Logger) (*Config, error) {
	c := newConfig(log)
	if err := c.read(name, r); err != nil {
		return nil, err
	}
	return c, nil
}

// read loads logical lines of r into c, warning about overridden entries.
func (c *Config) read(path string, r io.Reader) error {
	lr := &lineReader{r: bufio.NewReader(r), path: path, log: c.log}
	for {
		line, lineno, err := lr.next()
		if err != nil {
			return fmt.Errorf("%s: read error: %w", path, err)
		}
		if line == "" {
			return nil
		}
		name, value, msg := splitNameValue(line)
		if msg != "" {
			return fmt.Errorf("%s, line %d: %s: \"%s\"", path, lineno, msg, line)
		}
		if old, ok := c.values[name]; ok && old != value {
			c.log.Warnf("%s, line %d: overriding earlier entry: %s=%s", path, lineno, name, old)
		}
		c.values[name] = value
	}
}

// SetOption applies one master.cf "-o" argument: "name=value" or
// "name = value". The value is stored raw.
func (c *Config) SetOption(opt string) error {
	name, value, msg := splitNameValue(opt)
	if msg != "" {
		return fmt.Errorf("invalid \"-o %s\" option value: %s", opt, msg)
	}
	c.Set(name, value)
	return nil
}

// Set stores a raw value for name, overriding main.cf (like -o).
func (c *Config) Set(name, value string) {
	c.mu.Lock()
	c.values[name] = value
	c.mu.Unlock()
}

// Raw returns the explicitly set, unexpanded value of name.
func (c *Config) Raw(name string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.values[name]
	return v, ok
}

// Defined reports whether name has a value: an explicit setting or an entry
// in Defaults. This is what ${name?...} and ${name:...} consider "defined";
// an empty value still counts as defined.
func (c *Config) Defined(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.values[name]
	if !ok {
		_, ok = c.defaults[name]
	}
	return ok
}

// Names returns the explicitly set parameter names, sorted.
func (c *Config) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.values))
	for n := range c.values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Dump returns "name = value" lines with expanded values, like
// "postconf -x name...". Without arguments it lists the explicitly set names.
// Expansion problems are reported as warnings to the Config's logger.
func (c *Config) Dump(names ...string) []string {
	if len(names) == 0 {
		names = c.Names()
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		line := n + " ="
		if v, _ := c.Str(n); v != "" {
			line += " " + v
		}
		out = append(out, line)
	}
	return out
}

// isSpace is C isspace() in the "C" locale.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// splitNameValue splits "name = value", trimming blanks around both parts.
// On failure it returns the Postfix reason text.
func splitNameValue(s string) (name, value, msg string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
		i++
	}
	if i == start {
		return "", "", "missing attribute name"
	}
	name = s[start:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '=' {
		return "", "", "missing '=' after attribute name"
	}
	return name, strings.TrimFunc(s[i+1:], func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }), ""
}

// lineReader assembles logical lines from physical ones.
type lineReader struct {
	r      *bufio.Reader
	path   string
	log    logs.Logger
	lineno int
}

// next returns the next logical line and the number of its first physical
// line, or "" at end of input.
func (lr *lineReader) next() (string, int, error) {
	for {
		var buf []byte
		first := 0
		for {
			line, eof, err := lr.physical()
			if err != nil {
				return "", 0, err
			}
			if !skippable(line) {
				if len(buf) == 0 {
					first = lr.lineno
				}
				buf = append(buf, line...)
			}
			if eof {
				break
			}
			if len(buf) > 0 {
				b, err := lr.r.Peek(1)
				if err != nil || (b[0] != '#' && !isSpace(b[0])) {
					break // EOF or start of the next logical line
				}
			}
		}
		if len(buf) == 0 {
			return "", 0, nil
		}
		if !isSpace(buf[0]) {
			return string(buf), first, nil
		}
		shown, more := buf, ""
		if len(shown) > 30 {
			shown, more = shown[:30], "..."
		}
		lr.log.Warnf("%s: logical line must not start with whitespace: \"%s%s\"", lr.path, shown, more)
	}
}

// physical reads one line without its newline; eof reports that the input
// ended (the line may still hold text).
func (lr *lineReader) physical() (line []byte, eof bool, err error) {
	line, err = lr.r.ReadBytes('\n')
	if errors.Is(err, io.EOF) {
		eof, err = true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		lr.lineno++
	} else if n > 0 {
		lr.lineno++
	}
	return line, eof, nil
}

// skippable reports blank lines and comment lines.
func skippable(line []byte) bool {
	for _, b := range line {
		if !isSpace(b) {
			return b == '#'
		}
	}
	return true
}
