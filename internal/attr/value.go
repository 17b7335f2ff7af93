package attr

import (
	"errors"
	"strconv"
)

// Errors of the value parsers, worded like Postfix's warnings.
var (
	ErrMalformedNumber = errors.New("malformed numerical data")
	ErrMalformedData   = errors.New("malformed base64 data")
)

// ParseInt parses an INT attribute value the way Postfix's sscanf("%u%c")
// check does: optional leading white space, an optional sign, then decimal
// digits up to the end of the string. The value is a 32-bit unsigned number
// reinterpreted as a signed C int, so "4294967295" and "-1" both give -1.
// Values above 4294967295 are rejected (glibc would wrap them).
func ParseInt(v string) (int, error) {
	u, err := parseUnsigned(v, 32)
	return int(int32(uint32(u))), err
}

// ParseLong parses a LONG attribute value like ParseInt, as a 64-bit
// unsigned number reinterpreted as signed ("18446744073709551615" is -1).
func ParseLong(v string) (int64, error) {
	u, err := parseUnsigned(v, 64)
	return int64(u), err
}

// parseUnsigned implements the "%u" rules for a bits-wide unsigned number.
// A leading "-" negates the value modulo 2**bits, as strtoul does.
func parseUnsigned(s string, bits int) (uint64, error) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := s[i:]
	if digits == "" {
		return 0, ErrMalformedNumber
	}
	for j := 0; j < len(digits); j++ {
		if digits[j] < '0' || digits[j] > '9' {
			return 0, ErrMalformedNumber
		}
	}
	u, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, ErrMalformedNumber
	}
	if neg {
		u = -u
		if bits < 64 {
			u &= 1<<bits - 1
		}
	}
	return u, nil
}

// isCSpace reports whether c is white space for C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// ParseData decodes a DATA attribute value with Postfix's base64 rules: the
// length must be a multiple of 4, every byte before the padding must be in
// the standard alphabet, and decoding stops at the first "=" in the third or
// fourth position of a 4-byte group (whatever follows is ignored). Unused
// low bits of the last symbol are ignored. Empty input gives empty data.
func ParseData(v string) ([]byte, error) {
	if len(v)%4 != 0 {
		return nil, ErrMalformedData
	}
	out := make([]byte, 0, len(v)/4*3)
	for i := 0; i < len(v); i += 4 {
		c0, ok0 := b64val(v[i])
		c1, ok1 := b64val(v[i+1])
		if !ok0 || !ok1 {
			return nil, ErrMalformedData
		}
		out = append(out, c0<<2|c1>>4)
		if v[i+2] == '=' {
			break
		}
		c2, ok := b64val(v[i+2])
		if !ok {
			return nil, ErrMalformedData
		}
		out = append(out, c1<<4|c2>>2)
		if v[i+3] == '=' {
			break
		}
		c3, ok := b64val(v[i+3])
		if !ok {
			return nil, ErrMalformedData
		}
		out = append(out, c2<<6|c3)
	}
	return out, nil
}

// b64val returns the 6-bit value of a standard base64 symbol.
func b64val(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}
