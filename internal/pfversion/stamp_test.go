package pfversion

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// stamp builds a C-string version stamp at run time, so that no stamp
// ends up in this test binary's own data.
func stamp(v string) []byte {
	b := []byte{0}
	b = append(b, stampPrefix...)
	b = append(b, v...)
	return append(b, 0)
}

func TestFromProgram(t *testing.T) {
	firstRead := stampChunk + len(stampPrefix) + maxStampValue
	filler := func(n int) []byte { return bytes.Repeat([]byte("\x7fELF.text"), n/9+1)[:n] }
	for _, tc := range []struct {
		name string
		file []byte
		want string // "" = ErrNoStamp
	}{
		{"release", concat(filler(1000), stamp("3.7.11"), filler(1000)), "3.7.11"},
		{"2.8", concat(stamp("2.8.0")), "2.8.0"},
		{"snapshot", concat(filler(10), stamp("3.12-20260821")), "3.12-20260821"},
		{"nonprod", concat(filler(10), stamp("3.11-20250601-nonprod")), "3.11-20250601"},
		{"the check's name comes first", concat([]byte("check_mail_version\x00var_mail_version\x00"), stamp("3.3.0")), "3.3.0"},
		{"an unterminated stamp is skipped", concat([]byte("mail_version=3.7.11 and more"), stamp("3.4.0")), "3.4.0"},
		{"a bad value is skipped", concat(stamp("%s"), stamp("3.10.13")), "3.10.13"},
		{"before 2.8", concat(stamp("2.7.1")), ""},
		{"no stamp", filler(200000), ""},
		{"value too long", concat(stamp("3.7.11" + string(bytes.Repeat([]byte("1"), 40)))), ""},
		{"empty", nil, ""},
		// A stamp across the end of the first read, at every cut.
		{"cut at the prefix", concat(filler(firstRead-5), stamp("3.5.20")), "3.5.20"},
		{"cut in the value", concat(filler(firstRead-15), stamp("3.5.20")), "3.5.20"},
		{"cut before the NUL", concat(filler(firstRead-20), stamp("3.5.20")), "3.5.20"},
		{"cut after the NUL", concat(filler(firstRead-21), stamp("3.5.20")), "3.5.20"},
		{"cut with a long value", concat(filler(firstRead-30), stamp("3.12-20260821-nonprod")), "3.12-20260821"},
		{"second chunk", concat(filler(3*stampChunk+7), stamp("3.6.0")), "3.6.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := FromProgram(bytes.NewReader(tc.file))
			check(t, tc.want, v, err)
			// Short reads change nothing.
			v, err = FromProgram(iotest.HalfReader(bytes.NewReader(tc.file)))
			check(t, tc.want, v, err)
		})
	}
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := FromProgram(iotest.ErrReader(boom)); !errors.Is(err, boom) {
			t.Errorf("err %v, want boom", err)
		}
	})
}

func check(t *testing.T, want string, v Version, err error) {
	t.Helper()
	if want == "" {
		if !errors.Is(err, ErrNoStamp) {
			t.Errorf("got %v, %v; want ErrNoStamp", v, err)
		}
		return
	}
	if err != nil || v.String() != want {
		t.Errorf("got %v, %v; want %s", v, err, want)
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// BenchmarkFromProgram reads a 2 MiB program (about the size of a
// statically linked master(8)) whose stamp is at the end: the worst case
// of what a tlsproxy process pays at start-up.
//
//	go test -run '^$' -bench FromProgram ./internal/pfversion
func BenchmarkFromProgram(b *testing.B) {
	file := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{1}).Read(file)
	file = concat(file, stamp("3.3.0"))
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		if _, err := FromProgram(bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
}
