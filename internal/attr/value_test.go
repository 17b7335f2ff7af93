package attr

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// Expected values follow glibc's sscanf("%u%c") (checked on Debian 12)
// except where noted: out-of-range numbers are rejected on purpose.
func TestParseInt(t *testing.T) {
	checkParse(t, "ParseInt", ParseInt, []parseCase[int]{
		{"300", 300, true},
		{"0", 0, true},
		{" 12", 12, true}, // leading white space skipped
		{"\t\n\v\f\r7", 7, true},
		{"+5", 5, true},
		{"-1", -1, true},
		{"-0", 0, true},
		{"007", 7, true},
		{"4294967295", -1, true},
		{"4294967294", -2, true},
		{"2147483647", math.MaxInt32, true},
		{"2147483648", math.MinInt32, true},
		{"-4294967295", 1, true}, // negated modulo 2**32
		{"", 0, false},
		{" ", 0, false},
		{"12x", 0, false},
		{"12 ", 0, false}, // trailing junk, even white space
		{"- 1", 0, false},
		{"+", 0, false},
		{"--1", 0, false},
		{"0x10", 0, false},
		{"1\x002", 0, false},
		{"4294967296", 0, false},           // glibc: 0
		{"99999999999999999999", 0, false}, // glibc: -1
		{"-4294967296", 0, false},
	})
}

func TestParseLong(t *testing.T) {
	checkParse(t, "ParseLong", ParseLong, []parseCase[int64]{
		{"300", 300, true},
		{"18446744073709551615", -1, true},
		{"-1", -1, true},
		{"-18446744073709551615", 1, true},
		{"9223372036854775808", math.MinInt64, true},
		{" +4294967296", 1 << 32, true},
		{"18446744073709551616", 0, false}, // glibc saturates to -1
		{"3 ", 0, false},
		{"", 0, false},
	})
}

// parseCase is a number as written and what ParseInt or ParseLong makes
// of it.
type parseCase[T int | int64] struct {
	in   string
	want T
	ok   bool
}

// checkParse runs the cases through parse, whose only error is
// ErrMalformedNumber.
func checkParse[T int | int64](t *testing.T, name string, parse func(string) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tc := range tests {
		got, err := parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s(%q) = %d, %v; want %d, ok=%v", name, tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && (err != ErrMalformedNumber || err.Error() != "malformed numerical data") {
			t.Errorf("%s(%q) error %q", name, tc.in, err)
		}
	}
}

func TestParseData(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"AAECAwQ=", "\x00\x01\x02\x03\x04", true},
		{"QQ==", "A", true},
		{"QUI=", "AB", true},
		{"QUJD", "ABC", true},
		{"QUJDRA==", "ABCD", true},
		{"QR==", "A", true},      // unused low bits ignored
		{"QQ=x", "A", true},      // decoding stops at "=" in position 3
		{"QUI=!!!!", "AB", true}, // whatever follows the padding is ignored
		{"QQ==QUJD", "A", true},
		{"QQ", "", false},     // length not a multiple of 4
		{"QUJD\n", "", false}, // no line breaks
		{"=QQ=", "", false},
		{"Q=QQ", "", false},
		{"QU*D", "", false},
		{"QUJ-", "", false}, // URL alphabet is not accepted
		{"QU\x00D", "", false},
	}
	for _, tc := range tests {
		got, err := ParseData(tc.in)
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("ParseData(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformedData) {
			t.Errorf("ParseData(%q) error %v", tc.in, err)
		}
		if tc.ok && got == nil {
			t.Errorf("ParseData(%q) returned nil", tc.in)
		}
	}
}

func TestEncodeValues(t *testing.T) {
	tests := []struct {
		a    Attr
		want string
	}{
		{Int("n", 300), "300"},
		{Int("n", 0), "0"},
		{Int("n", -1), "4294967295"},
		{Int("n", -2), "4294967294"},
		{Int("n", math.MinInt32), "2147483648"},
		{Int("n", 1<<32+5), "5"}, // C int conversion keeps the low 32 bits
		{Long("n", -1), "18446744073709551615"},
		{Long("n", 1<<40), "1099511627776"},
		{Data("n", nil), ""},
		{Data("n", []byte{0, 1, 2, 3, 4}), "AAECAwQ="},
		{Data("n", []byte("AB")), "QUI="},
		{Str("n", "x y"), "x y"},
	}
	for _, tc := range tests {
		if tc.a.Value != tc.want {
			t.Errorf("got %q, want %q", tc.a.Value, tc.want)
		}
	}
	for _, v := range []int{0, 1, -1, math.MaxInt32, math.MinInt32} {
		if got, err := ParseInt(Int("n", v).Value); err != nil || got != v {
			t.Errorf("ParseInt(Int(%d)) = %d, %v", v, got, err)
		}
	}
	for _, v := range []int64{0, -1, math.MaxInt64, math.MinInt64} {
		if got, err := ParseLong(Long("n", v).Value); err != nil || got != v {
			t.Errorf("ParseLong(Long(%d)) = %d, %v", v, got, err)
		}
	}
	for _, b := range [][]byte{{}, {0}, {0xff, 0xfe}, bytes.Repeat([]byte{7}, 100)} {
		if got, err := ParseData(Data("n", b).Value); err != nil || !bytes.Equal(got, b) {
			t.Errorf("ParseData(Data(%x)) = %x, %v", b, got, err)
		}
	}
}
