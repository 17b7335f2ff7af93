package attr

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// countingReader counts the bytes handed out and records the read sizes.
type countingReader struct {
	r     io.Reader
	n     int
	sizes []int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadListErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error  // matched with errors.Is
		item string // ReadError.Item, if a *ReadError is expected
	}{
		{"", io.EOF, ""},
		{"n", io.ErrUnexpectedEOF, "input attribute name"},
		{"name\x00", io.ErrUnexpectedEOF, "input attribute value"},
		{"name\x00val", io.ErrUnexpectedEOF, "input attribute value"},
		{"name\x00val\x00", io.ErrUnexpectedEOF, "input attribute name"},
		{"name\x00\x00", io.ErrUnexpectedEOF, "input attribute name"}, // empty value, then no terminator
		{"name\x00val\x00x", io.ErrUnexpectedEOF, "input attribute name"},
		{"{\x00", ErrHashUnsupported, ""},
		{"a\x00b\x00}\x00\x00", ErrHashUnsupported, ""},
	}
	for _, tc := range tests {
		l, err := NewReader(strings.NewReader(tc.in)).ReadList()
		if !errors.Is(err, tc.want) || l != nil {
			t.Errorf("ReadList(%q) = %q, %v; want %v", tc.in, l, err, tc.want)
			continue
		}
		if tc.want == io.EOF && err != io.EOF {
			t.Errorf("ReadList(%q): EOF before the list must be io.EOF itself, got %#v", tc.in, err)
		}
		var re *ReadError
		if errors.As(err, &re) != (tc.item != "") || (re != nil && re.Item != tc.item) {
			t.Errorf("ReadList(%q) = %#v; want ReadError for %q", tc.in, err, tc.item)
		}
	}
}

func TestReadErrorMessage(t *testing.T) {
	_, err := NewReader(strings.NewReader("flags\x001\x00")).ReadList()
	var re *ReadError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want *ReadError", err)
	}
	const want = "premature end-of-input on plaintext while reading input attribute name"
	if got := re.Message("plaintext"); got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	boom := errors.New("boom")
	_, err = NewReader(io.MultiReader(strings.NewReader("flags\x00"), iotest.ErrReader(boom))).ReadList()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "input attribute value: boom") {
		t.Errorf("got %v, want wrapped boom", err)
	}
}

func TestReadListLimits(t *testing.T) {
	small := func(r *Reader) { r.MaxNameLen, r.MaxValueLen, r.MaxListLen, r.MaxAttrs = 8, 16, 64, 3 }
	big := strings.Repeat("v", DefaultMaxValueLen)
	tests := []struct {
		name     string
		set      func(*Reader)
		in       string
		what     string // LimitError.What; "" = must succeed
		consumed int    // bytes consumed when the error is reported
	}{
		{"name at limit", small, "12345678\x00v\x00\x00", "", 0},
		{"name over limit", small, "123456789\x00v\x00\x00", "attribute name", 8},
		{"value at limit", small, "n\x00" + strings.Repeat("v", 16) + "\x00\x00", "", 0},
		{"value over limit", small, "n\x00" + strings.Repeat("v", 17) + "\x00\x00", "attribute value", 2 + 16},
		{"attrs at limit", small, "a\x00\x00b\x00\x00c\x00\x00\x00", "", 0},
		{"attrs over limit", small, "a\x00\x00b\x00\x00c\x00\x00d\x00\x00\x00", "attribute count", 11},
		{"list at limit", small, strings.Repeat("12345678\x00"+strings.Repeat("v", 11)+"\x00", 3) + "\x00", "", 0},
		{"list over limit", small, strings.Repeat("12345678\x00"+strings.Repeat("v", 16)+"\x00", 3) + "\x00", "attribute list", 63},
		{"list full before terminator", func(r *Reader) { small(r); r.MaxListLen = 4 }, "n\x00v\x00\x00", "attribute list", 4},
		{"default value at limit", nil, "n\x00" + big + "\x00\x00", "", 0},
		{"default value over limit", nil, "n\x00" + big + "v\x00\x00", "attribute value", 2 + DefaultMaxValueLen},
		{"default list over limit", nil, strings.Repeat("n\x00"+big[:60000]+"\x00", 5) + "\x00", "attribute list", DefaultMaxListLen - 1},
		{"zero fields mean default", func(r *Reader) { *r = Reader{rd: r.rd, buf: r.buf} }, "n\x00" + big + "v\x00\x00", "attribute value", 2 + DefaultMaxValueLen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: strings.NewReader(tc.in)}
			r := NewReader(cr)
			if tc.set != nil {
				tc.set(r)
			}
			l, err := r.ReadList()
			if tc.what == "" {
				if err != nil {
					t.Fatalf("ReadList: %v", err)
				}
				if got := AppendList(nil, l); string(got) != tc.in {
					t.Errorf("round trip: got %d bytes, want %d", len(got), len(tc.in))
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrTooLong) || le.What != tc.what {
				t.Fatalf("got %q, %v; want LimitError %q", l, err, tc.what)
			}
			if got := cr.n - r.Buffered(); got != tc.consumed {
				t.Errorf("consumed %d bytes, want %d", got, tc.consumed)
			}
			if !strings.Contains(err.Error(), "attr: ") {
				t.Errorf("error text %q", err)
			}
		})
	}
}

func TestBuffered(t *testing.T) {
	status := "status\x001\x00\x00"
	in := status + status + "xyz"
	r := NewReader(strings.NewReader(in)) // one Read returns everything
	for i, want := range []int{len(status) + 3, 3} {
		if _, err := r.ReadList(); err != nil {
			t.Fatal(err)
		}
		if got := r.Buffered(); got != want {
			t.Errorf("after list %d Buffered = %d, want %d", i, got, want)
		}
	}
	// One byte per read: nothing is ever read ahead.
	r = NewReader(iotest.OneByteReader(strings.NewReader(status + status)))
	for i := range 2 {
		if _, err := r.ReadList(); err != nil || r.Buffered() != 0 {
			t.Errorf("one-byte reader, list %d: err %v, Buffered %d", i, err, r.Buffered())
		}
	}
}

func TestReadSizeIsBufSize(t *testing.T) {
	l := List{Str("a", strings.Repeat("x", 3*BufSize))}
	cr := &countingReader{r: bytes.NewReader(AppendList(nil, l))}
	got, err := NewReader(cr).ReadList()
	if err != nil || !reflect.DeepEqual(got, l) {
		t.Fatalf("ReadList: %v", err)
	}
	if len(cr.sizes) < 4 {
		t.Errorf("only %d reads for %d bytes", len(cr.sizes), cr.n)
	}
	for _, n := range cr.sizes {
		if n != BufSize {
			t.Errorf("read asked for %d bytes, want %d", n, BufSize)
		}
	}
}

func TestReaderIOEdgeCases(t *testing.T) {
	// Data and io.EOF from the same Read: the list is complete, then EOF.
	r := NewReader(iotest.DataErrReader(strings.NewReader("status\x000\x00\x00")))
	if l, err := r.ReadList(); err != nil || !reflect.DeepEqual(l, List{Int("status", 0)}) {
		t.Errorf("DataErrReader: %q, %v", l, err)
	}
	if _, err := r.ReadList(); err != io.EOF {
		t.Errorf("after the list: %v, want io.EOF", err)
	}
	// A timeout in the middle of a list is passed on, wrapped.
	r = NewReader(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("status\x000\x00\x00"))))
	if _, err := r.ReadList(); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("TimeoutReader: %v", err)
	}
	// A reader that never makes progress does not hang.
	r = NewReader(zeroReader{})
	if _, err := r.ReadList(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("zeroReader: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestMore(t *testing.T) {
	r := NewReader(strings.NewReader("a\x00b\x00\x00"))
	if more, err := r.More(); !more || err != nil {
		t.Fatalf("More at attribute = %v, %v", more, err)
	}
	if r.Buffered() != 5 {
		t.Errorf("More consumed a byte")
	}
	r = NewReader(strings.NewReader("\x00rest"))
	if more, err := r.More(); more || err != nil || r.Buffered() != 4 {
		t.Errorf("More at terminator = %v, %v, Buffered %d", more, err, r.Buffered())
	}
	if _, err := NewReader(strings.NewReader("")).More(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("More at EOF: %v", err)
	}
}

func TestParseList(t *testing.T) {
	if _, err := ParseList([]byte("a\x00b\x00\x00x")); err == nil {
		t.Error("trailing byte accepted")
	}
	if _, err := ParseList(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty input: %v", err)
	}
	long := List{Str("a", strings.Repeat("x", 2*DefaultMaxValueLen))} // no limits in memory
	if got, err := ParseList(AppendList(nil, long)); err != nil || !reflect.DeepEqual(got, long) {
		t.Errorf("long value: %v", err)
	}
}

func TestPlainReader(t *testing.T) {
	tests := []struct {
		in   string
		want List
		err  string // substring; "" = success
	}{
		{"\n", List{}, ""},
		{"a=b\n\n", List{Str("a", "b")}, ""},
		{"a=b=c\n\n", List{Str("a", "b=c")}, ""},
		{"a=\nb=\n\n", List{Str("a", ""), Str("b", "")}, ""},
		{"a\n\n", nil, "missing value for attribute a"},
		{"=b\n\n", nil, "empty attribute name"},
		{"a=b\x00\n\n", nil, "NUL"},
		{"a\x00=b\n\n", nil, "NUL"},
		{"{\n}\n\n", nil, "multi-attribute"},
		{"a=b\n", nil, "premature end-of-input"},
		{"a=b\n\nx", nil, "1 bytes after the end"},
		{"", nil, "premature end-of-input"},
	}
	for _, tc := range tests {
		got, err := ParsePlain([]byte(tc.in))
		switch {
		case tc.err == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("ParsePlain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParsePlain(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
		}
	}
	if _, err := NewReader(strings.NewReader("")).ReadPlainList(); err != io.EOF {
		t.Errorf("ReadPlainList at EOF: %v", err)
	}
}

// randomList builds a list that can be encoded faithfully; forbidden are the
// bytes that may not occur in names and values.
func randomList(rng *rand.Rand, nameForbidden, valueForbidden string) List {
	text := func(min, max int, forbidden string) string {
		b := make([]byte, min+rng.IntN(max-min+1))
		for i := range b {
			for {
				b[i] = byte(rng.IntN(256))
				if rng.IntN(2) == 0 {
					b[i] = "ab=\n{}0 \x01\xff"[rng.IntN(10)] // favour interesting bytes
				}
				if strings.IndexByte(forbidden, b[i]) < 0 {
					break
				}
			}
		}
		return string(b)
	}
	l := make(List, rng.IntN(8))
	for i := range l {
		l[i] = Attr{text(1, 12, nameForbidden), text(0, 20, valueForbidden)}
		if l[i].Name == "{" || l[i].Name == "}" {
			l[i].Name += "x"
		}
	}
	return l
}

func TestRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	readers := []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r },
		iotest.OneByteReader,
		iotest.HalfReader,
	}
	for iter := range 500 {
		lists := make([]List, 1+rng.IntN(4))
		for i := range lists {
			lists[i] = randomList(rng, "\x00", "\x00")
			if err := lists[i].Validate(); err != nil {
				t.Fatalf("generator: %v", err)
			}
		}
		wire := encodeAll(lists)
		r := NewReader(readers[iter%len(readers)](bytes.NewReader(wire)))
		for i, want := range lists {
			got, err := r.ReadList()
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("iteration %d list %d: got %q, %v; want %q (wire %q)", iter, i, got, err, want, wire)
			}
		}
		if _, err := r.ReadList(); err != io.EOF {
			t.Fatalf("iteration %d: after the lists: %v", iter, err)
		}
		// plain: names without "=" and LF, values without LF
		pl := randomList(rng, "\x00=\n", "\x00\n")
		if got, err := ParsePlain(AppendPlain(nil, pl)); err != nil || !reflect.DeepEqual(got, pl) {
			t.Fatalf("plain iteration %d: got %q, %v; want %q", iter, got, err, pl)
		}
	}
}

// TestRelease checks that a released Reader's buffer, full of another
// stream's bytes, does not leak into the lists of the Readers made after
// it, and that Release may be called twice and on nil.
func TestRelease(t *testing.T) {
	tests := []struct {
		name string
		old  List // read, partly, by the released Reader
		next List // read by a new Reader afterwards
	}{
		{"short after long", List{Str("name", strings.Repeat("x", BufSize))}, List{Str("a", "b")}},
		{"same names", List{Str("status", "1"), Str("extra", "left unread")}, List{Str("status", "0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // the pool may hand back any released buffer, or none
				r := NewReader(bytes.NewReader(AppendList(nil, tt.old)))
				if _, err := r.ReadList(); err != nil {
					t.Fatal(err)
				}
				r.Release()
				r.Release()
				n := NewReader(bytes.NewReader(AppendList(nil, tt.next)))
				got, err := n.ReadList()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.next) {
					t.Fatalf("read %v, want %v", got, tt.next)
				}
				if _, err := n.ReadList(); err != io.EOF {
					t.Fatalf("after the list: %v, want EOF", err)
				}
				n.Release()
			}
		})
	}
	var r *Reader
	r.Release()
}
