package master

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Options holds the command line master(8) gives an event server
// (master.cf → argv, as master(8) builds it; docs/configuration.md). Unset numeric
// options are -1, except Sockets which defaults to 1.
type Options struct {
	Chroot        bool     // -c: chroot to queue_directory after pre-init
	Debug         bool     // -d: do not run as daemon (disables the tty check)
	Debugger      bool     // -D: run debugger_command on ourselves
	MaxIdle       int      // -i: max_idle override in seconds, -1 if unset
	SingleProcess bool     // -l: process limit is 1
	MaxUse        int      // -m: max_use override, -1 if unset
	Service       string   // -n: service name ("" = basename of argv[0])
	Overrides     []string // -o: main.cf overrides as "name=value", in order
	Retire        int      // -r: retirement time in seconds, -1 if unset
	Sockets       int      // -s: number of listening sockets, default 1
	Standalone    bool     // -S: serve one connection on stdin/stdout
	Transport     string   // -t: transport type (unix, inet, pass, ...)
	Unprivileged  bool     // -u: drop privileges to mail_owner
	Verbose       int      // -v: verbosity, one per -v
	Stderr        bool     // -V: also log to stderr
	Unlimited     bool     // -z: process limit is 0
	Args          []string // operands after the options (master passes none)
}

// optString is event_server's getopt option string (Postfix 3.7).
const optString = "cdDi:lm:n:o:r:s:St:uvVz"

// ParseArgs parses argv[1:] with the getopt semantics Postfix uses on
// Linux (option string "cdDi:lm:n:o:r:s:St:uvVz", no permutation):
// flags may be combined (-zu), an option argument may be attached or be
// the next word (-ofoo=bar, -o foo=bar), "--" ends the options, and so
// does the first word that is not an option ("-" included); the remaining
// words end up in Options.Args. -o values are normalised by
// SplitOverride. Numeric arguments are validated.
func ParseArgs(args []string) (Options, error) {
	o := Options{MaxIdle: -1, MaxUse: -1, Retire: -1, Sockets: 1}
	i := 0
	for ; i < len(args); i++ {
		word := args[i]
		if word == "--" {
			i++
			break
		}
		if len(word) < 2 || word[0] != '-' {
			break
		}
		for j := 1; j < len(word); j++ {
			c := word[j]
			k := strings.IndexByte(optString, c)
			if c == ':' || k < 0 {
				return o, fmt.Errorf("invalid option: %s", printable(c))
			}
			if k+1 == len(optString) || optString[k+1] != ':' {
				o.setFlag(c)
				continue
			}
			var val string
			switch {
			case j+1 < len(word):
				val = word[j+1:]
			case i+1 < len(args):
				i++
				val = args[i]
			default:
				return o, fmt.Errorf("option requires an argument: %c", c)
			}
			if err := o.setValue(c, val); err != nil {
				return o, err
			}
			break
		}
	}
	o.Args = append([]string(nil), args[i:]...)
	return o, nil
}

func (o *Options) setFlag(c byte) {
	switch c {
	case 'c':
		o.Chroot = true
	case 'd':
		o.Debug = true
	case 'D':
		o.Debugger = true
	case 'l':
		o.SingleProcess = true
	case 'S':
		o.Standalone = true
	case 'u':
		o.Unprivileged = true
	case 'v':
		o.Verbose++
	case 'V':
		o.Stderr = true
	case 'z':
		o.Unlimited = true
	}
}

func (o *Options) setValue(c byte, val string) error {
	var err error
	switch c {
	case 'i':
		o.MaxIdle, err = parseSeconds(val)
		if err != nil {
			return fmt.Errorf("invalid max_idle time: %q", val)
		}
	case 'm':
		o.MaxUse, err = parseCount(val, 0)
		if err != nil {
			return fmt.Errorf("invalid max_use value: %q", val)
		}
	case 'n':
		o.Service = val
	case 'o':
		name, value, err := SplitOverride(val)
		if err != nil {
			return fmt.Errorf("invalid \"-o %s\" option value: %w", val, err)
		}
		o.Overrides = append(o.Overrides, name+"="+value)
	case 'r':
		o.Retire, err = parseCount(val, 1)
		if err != nil {
			return fmt.Errorf("invalid retirement time: %q", val)
		}
	case 's':
		o.Sockets, err = parseCount(val, 1)
		if err != nil {
			return fmt.Errorf("invalid socket_count: %q", val)
		}
	case 't':
		o.Transport = val
	}
	return nil
}

// SplitOverride splits a -o argument into name and value. Surrounding
// braces ("{ name = value }", as written in master.cf; master normally
// strips them already) are removed, and white space around the name and
// the value is trimmed. The name must not be empty; the value may be.
func SplitOverride(s string) (name, value string, err error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", errors.New("missing '=' after parameter name")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "", errors.New("missing parameter name")
	}
	return name, strings.TrimSpace(value), nil
}

// parseCount accepts a decimal number >= min that fits in an int32.
func parseCount(s string, min int) (int, error) {
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil || int(v) < min {
		return 0, errors.New("bad number")
	}
	return int(v), nil
}

// parseSeconds accepts a Postfix time value: a decimal number with an
// optional unit s, m, h, d or w (default seconds), and returns seconds.
func parseSeconds(s string) (int, error) {
	mult := 1
	if n := len(s); n > 1 {
		if k := strings.IndexByte("smhdw", s[n-1]); k >= 0 {
			mult, s = [...]int{1, 60, 3600, 86400, 604800}[k], s[:n-1]
		}
	}
	v, err := parseCount(s, 0)
	if err != nil || v > (1<<31-1)/mult {
		return 0, errors.New("bad time")
	}
	return v * mult, nil
}

func printable(c byte) string {
	if c > ' ' && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("%q", string([]byte{c}))
}

// Check applies event_server's start-up checks to parsed options: unless
// -d or -S is given, stdin must not be a terminal ("do not run this
// command by hand"); unless -S is given a transport is required, and
// only "unix" is supported by this implementation (Postfix also knows
// inet and pass). tlsproxy takes no operands.
func (o Options) Check(stdinIsTTY bool) error {
	if stdinIsTTY && !o.Debug && !o.Standalone {
		return errors.New("do not run this command by hand")
	}
	if !o.Standalone {
		if o.Transport == "" {
			return errors.New("no transport type specified")
		}
		if !strings.EqualFold(o.Transport, "unix") {
			return fmt.Errorf("unsupported transport type: %s", o.Transport)
		}
	}
	if len(o.Args) > 0 {
		return fmt.Errorf("unexpected command-line argument: %s", o.Args[0])
	}
	return nil
}
