package attr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Attr is one name/value pair as it appeared on the wire (value raw text).
type Attr struct{ Name, Value string }

// List is one attribute list, in wire order (names may repeat, e.g. "timeout"
// twice in a tlsproxy 3.4+ request).
type List []Attr

// Str returns a string attribute.
func Str(name, value string) Attr { return Attr{name, value} }

// Int returns an integer attribute printed like C's "%u" of (unsigned)v, so
// -1 becomes "4294967295".
func Int(name string, v int) Attr {
	return Attr{name, strconv.FormatUint(uint64(uint32(v)), 10)}
}

// Long returns a long attribute printed like C's "%lu" of a 64-bit long, so
// -1 becomes "18446744073709551615".
func Long(name string, v int64) Attr {
	return Attr{name, strconv.FormatUint(uint64(v), 10)}
}

// Data returns a binary attribute, encoded as padded standard base64.
func Data(name string, b []byte) Attr {
	return Attr{name, base64.StdEncoding.EncodeToString(b)}
}

// Get returns the value of the first attribute called name.
func (l List) Get(name string) (string, bool) {
	for _, a := range l {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// All returns the values of every attribute called name, in order.
func (l List) All(name string) []string {
	var vs []string
	for _, a := range l {
		if a.Name == name {
			vs = append(vs, a.Value)
		}
	}
	return vs
}

// Names returns the attribute names in order, duplicates included.
func (l List) Names() []string {
	ns := make([]string, len(l))
	for i, a := range l {
		ns[i] = a.Name
	}
	return ns
}

// ErrHashUnsupported reports a Postfix 3.1+ multi-attribute group delimiter
// ("{" or "}" used as a name); see the package documentation.
var ErrHashUnsupported = errors.New(`attr: multi-attribute group delimiter ("{" or "}") not supported`)

// Validate reports whether l survives an attr0 round trip unchanged: names
// must be non-empty and must not be a HASH delimiter, and neither names nor
// values may contain NUL.
func (l List) Validate() error {
	for i, a := range l {
		switch {
		case a.Name == "":
			return fmt.Errorf("attr: attribute %d has an empty name", i)
		case a.Name == "{" || a.Name == "}":
			return fmt.Errorf("attr: attribute %d: %w", i, ErrHashUnsupported)
		case strings.IndexByte(a.Name, 0) >= 0:
			return fmt.Errorf("attr: attribute %d: NUL in name %q", i, a.Name)
		case strings.IndexByte(a.Value, 0) >= 0:
			return fmt.Errorf("attr: attribute %s: NUL in value", a.Name)
		}
	}
	return nil
}

// cstr cuts s at its first NUL, as a C string would be.
func cstr(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// AppendList appends the attr0 encoding of l plus the list terminator to
// dst. Text after a NUL in a name or value is dropped (see [List.Validate]).
func AppendList(dst []byte, l List) []byte {
	for _, a := range l {
		dst = append(dst, cstr(a.Name)...)
		dst = append(dst, 0)
		dst = append(dst, cstr(a.Value)...)
		dst = append(dst, 0)
	}
	return append(dst, 0)
}

// AppendPlain appends the plain encoding of l (name=value LF for each
// attribute, then an empty line) to dst. Like Postfix, it does not escape
// "=" or LF; text after a NUL is dropped.
func AppendPlain(dst []byte, l List) []byte {
	for _, a := range l {
		dst = append(dst, cstr(a.Name)...)
		dst = append(dst, '=')
		dst = append(dst, cstr(a.Value)...)
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}
