package attr

import (
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// addGoldenSeeds adds every golden wire file of the given extension.
func addGoldenSeeds(f *testing.F, ext string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzReadList checks that the decoder never panics and that whatever it
// accepts re-encodes to exactly the bytes it consumed.
func FuzzReadList(f *testing.F) {
	addGoldenSeeds(f, ".attr0")
	for _, s := range []string{"", "\x00", "a\x00\x00\x00", "{\x00a\x00b\x00}\x00\x00", "a\x00b", "config_name\x00\x00tls\x00x\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, small := range []bool{false, true} {
			br := bytes.NewReader(data)
			r := NewReader(br)
			if small {
				r.MaxNameLen, r.MaxValueLen, r.MaxListLen, r.MaxAttrs = 4, 8, 32, 3
			}
			start := 0
			for range len(data) + 1 {
				l, err := r.ReadList()
				end := len(data) - br.Len() - r.Buffered()
				if err == io.EOF && end != len(data) {
					t.Fatalf("io.EOF at offset %d of %d", end, len(data))
				}
				if err != nil {
					if small && end-start > 32 {
						t.Fatalf("consumed %d bytes beyond the 32-byte list limit", end-start)
					}
					break
				}
				if err := l.Validate(); err != nil {
					t.Fatalf("accepted an invalid list %q: %v", l, err)
				}
				if enc := AppendList(nil, l); !bytes.Equal(enc, data[start:end]) {
					t.Fatalf("re-encoding %q gives %q, consumed %q", l, enc, data[start:end])
				}
				start = end
			}
		}
	})
}

// FuzzReadPlainList is FuzzReadList for the plain encoding.
func FuzzReadPlainList(f *testing.F) {
	addGoldenSeeds(f, ".plain")
	for _, s := range []string{"", "\n", "a=b\n\n", "a=b=c\n\n", "a\n\n", "{\n}\n\n", "a=\x00\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bytes.NewReader(data)
		r := NewReader(br)
		start := 0
		for range len(data) + 1 {
			l, err := r.ReadPlainList()
			if err != nil {
				break
			}
			end := len(data) - br.Len() - r.Buffered()
			if enc := AppendPlain(nil, l); !bytes.Equal(enc, data[start:end]) {
				t.Fatalf("re-encoding %q gives %q, consumed %q", l, enc, data[start:end])
			}
			start = end
		}
	})
}

// onlyDigits reports whether s is a non-empty string of ASCII digits.
func onlyDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "300", " 12", "+5", "12x", "", "-1", "4294967295", "4294967296", "\t-0", "18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseInt(s)
		if err == nil {
			if back, err := ParseInt(Int("n", v).Value); err != nil || back != v {
				t.Fatalf("ParseInt(%q) = %d does not round-trip: %d, %v", s, v, back, err)
			}
		}
		if onlyDigits(s) {
			u, uerr := strconv.ParseUint(s, 10, 32)
			if (uerr == nil) != (err == nil) || (err == nil && v != int(int32(uint32(u)))) {
				t.Fatalf("ParseInt(%q) = %d, %v; strconv says %d, %v", s, v, err, u, uerr)
			}
		}
		l, lerr := ParseLong(s)
		if err == nil && lerr != nil {
			t.Fatalf("ParseInt accepts %q but ParseLong does not", s)
		}
		if lerr == nil {
			if back, err := ParseLong(Long("n", l).Value); err != nil || back != l {
				t.Fatalf("ParseLong(%q) = %d does not round-trip", s, l)
			}
		}
	})
}

func FuzzParseData(f *testing.F) {
	for _, s := range []string{"", "AAECAwQ=", "QQ==", "QUI=", "QUJD", "QR==", "QQ=x", "QQ", "=QQ=", "QU*D", "QUJD\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseData(s)
		if err != nil {
			if !strings.ContainsAny(s, "\r\n") {
				if g, gerr := base64.StdEncoding.DecodeString(s); gerr == nil {
					t.Fatalf("ParseData(%q) failed, encoding/base64 gives %x", s, g)
				}
			}
			return
		}
		if len(b) > len(s)/4*3 {
			t.Fatalf("ParseData(%q) returned %d bytes", s, len(b))
		}
		if g, gerr := base64.StdEncoding.DecodeString(s); gerr == nil && !bytes.Equal(g, b) {
			t.Fatalf("ParseData(%q) = %x, encoding/base64 gives %x", s, b, g)
		}
		if back, err := ParseData(Data("n", b).Value); err != nil || !bytes.Equal(back, b) {
			t.Fatalf("ParseData(%q) = %x does not round-trip", s, b)
		}
	})
}
