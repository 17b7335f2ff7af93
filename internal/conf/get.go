package conf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// defaultDomain is used when the host name has no usable domain part.
const defaultDomain = "localdomain"

// runtimeDefault computes the defaults that depend on the running system.
func (e *expander) runtimeDefault(name string) string {
	switch name {
	case "myhostname":
		// gethostname(); a bare name gets ".$mydomain" (explicit setting
		// only) or ".localdomain" appended.
		host := e.c.hostname
		if strings.Contains(host, ".") {
			return host
		}
		domain := defaultDomain
		if raw, ok := e.c.values["mydomain"]; ok {
			var b strings.Builder
			e.parse(raw, &b)
			domain = b.String()
		}
		return host + "." + domain
	case "mydomain":
		// The part of $myhostname after its first dot, if that part is
		// itself dotted; otherwise "localdomain".
		saved := e.inDomain
		e.inDomain = true
		var b strings.Builder
		e.reference("myhostname", &b)
		e.inDomain = saved
		host := b.String()
		if i := strings.IndexByte(host, '.'); i >= 0 && strings.Contains(host[i+1:], ".") {
			return host[i+1:]
		}
		return defaultDomain
	case "process_name":
		return e.c.progname
	}
	return ""
}

// value expands the setting of name, or its table default. p is the table
// entry (zero for unknown names).
func (c *Config) value(name string) (string, Param, error) {
	c.mu.RLock()
	p := c.defaults[name]
	e := &expander{c: c}
	raw, ok := e.lookup(name)
	if !ok {
		raw = ""
	}
	v, err := e.eval(raw)
	c.mu.RUnlock()
	e.flush()
	return v, p, err
}

// Str returns the expanded value of name (or of its default). Parameters
// marked NonEmpty fail when the result is empty.
func (c *Config) Str(name string) (string, error) {
	v, p, err := c.value(name)
	if err != nil {
		return v, err
	}
	if p.NonEmpty && v == "" {
		return v, fmt.Errorf("bad string length 0 < 1: %s = %s", name, v)
	}
	return v, nil
}

// Bool returns a yes/no parameter; case does not matter.
func (c *Config) Bool(name string) (bool, error) {
	v, _, err := c.value(name)
	if err != nil {
		return false, err
	}
	switch {
	case strings.EqualFold(v, "yes"):
		return true, nil
	case strings.EqualFold(v, "no"):
		return false, nil
	}
	return false, fmt.Errorf("bad boolean configuration: %s = %s", name, v)
}

// Int returns a decimal integer parameter (C strtol syntax, whole value,
// 32-bit range), checked against the table's bounds.
func (c *Config) Int(name string) (int, error) {
	v, p, err := c.value(name)
	if err != nil {
		return 0, err
	}
	n, end, ok := strtol(v)
	if v == "" || end != len(v) || !ok {
		return 0, fmt.Errorf("bad numerical configuration: %s = %s", name, v)
	}
	if p.Min != 0 && n < p.Min {
		return 0, fmt.Errorf("invalid %s parameter value %d < %d", name, n, p.Min)
	}
	if p.Max != 0 && n > p.Max {
		return 0, fmt.Errorf("invalid %s parameter value %d > %d", name, n, p.Max)
	}
	return n, nil
}

// Time returns a time parameter: an integer with an optional unit letter
// s, m, h, d or w. Without a letter the unit of the built-in default applies.
// Bounds from the table are in seconds.
func (c *Config) Time(name string) (time.Duration, error) {
	v, p, err := c.value(name)
	if err != nil {
		return 0, err
	}
	unit := byte('s')
	if p.Default != "" {
		if d, err := c.Eval(p.Default); err == nil {
			if i := strings.IndexFunc(d, func(r rune) bool { return r < 0x80 && isLetter(byte(r)) }); i >= 0 {
				unit = d[i]
			}
		}
	}
	secs, ok := convTime(v, unit)
	if !ok {
		return 0, fmt.Errorf("parameter %s: bad time value or unit: %s", name, v)
	}
	if p.Min != 0 && secs < p.Min {
		return 0, fmt.Errorf("invalid %s: %d (min %d)", name, secs, p.Min)
	}
	if p.Max != 0 && secs > p.Max {
		return 0, fmt.Errorf("invalid %s: %d (max %d)", name, secs, p.Max)
	}
	return time.Duration(secs) * time.Second, nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// strtol parses like C strtol(s, &end, 10) into a 32-bit int: optional
// leading blanks and sign, then digits. Without digits end is 0. ok is false
// when the number does not fit.
func strtol(s string) (n, end int, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v int64
	ok = true
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if v <= math.MaxInt32+1 {
			v = v*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, 0, true
	}
	if neg {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		ok = false
	}
	return int(v), i, ok
}

// convTime converts a time value to seconds: a non-negative integer and at
// most one unit letter; def is the unit when there is none.
func convTime(s string, def byte) (int, bool) {
	n, end, ok := strtol(s)
	if s == "" || !ok || n < 0 || end+1 < len(s) {
		return 0, false
	}
	unit := def
	if end < len(s) {
		unit = s[end]
	}
	mult := map[byte]int{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}[unit]
	if mult == 0 {
		return 0, false
	}
	if mult > 1 && n >= math.MaxInt32/mult {
		return 0, false
	}
	return n * mult, true
}

// CompareCompatLevels compares two Postfix compatibility levels of the form
// major[.minor[.patch]] numerically per component ("3.10" > "3.9", "2" <
// "3.6"). It returns -1, 0 or 1, or an error for malformed input.
func CompareCompatLevels(a, b string) (int, error) {
	x, err := parseCompatLevel(a)
	if err != nil {
		return 0, err
	}
	y, err := parseCompatLevel(b)
	if err != nil {
		return 0, err
	}
	for i := range x {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

// parseCompatLevel splits a level into major, minor and patch; minor and
// patch are limited to 0..1023 as in Postfix.
func parseCompatLevel(s string) ([3]int64, error) {
	var lv [3]int64
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return lv, fmt.Errorf("malformed compatibility level syntax: \"%s\"", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || p[0] == '+' || p[0] == '-' || (i > 0 && n > 1023) || (i == 0 && n > math.MaxInt32) {
			return lv, fmt.Errorf("malformed compatibility level syntax: \"%s\"", s)
		}
		lv[i] = n
	}
	return lv, nil
}
