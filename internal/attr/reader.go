package attr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// BufSize is the size of a Reader's buffer and the most it asks for in one
// read, like Postfix's VSTREAM_BUFSIZE.
const BufSize = 4096

// Default limits of a Reader. A Postfix 3.12 client-role request (about
// 1.5 KB, 60 attributes) stays far below them.
const (
	DefaultMaxNameLen  = 256
	DefaultMaxValueLen = 64 << 10
	DefaultMaxListLen  = 256 << 10
	DefaultMaxAttrs    = 1024
)

// ErrTooLong is matched (errors.Is) by every *LimitError.
var ErrTooLong = errors.New("attr: limit exceeded")

// LimitError reports that a list exceeded one of the Reader's limits. The
// stream is not resynchronized; the caller should drop the connection.
type LimitError struct {
	What  string // "attribute name", "attribute value", "attribute list" or "attribute count"
	Name  string // the attribute whose value was too long, if known
	Limit int
}

func (e *LimitError) Error() string {
	switch e.What {
	case "attribute count":
		return fmt.Sprintf("attr: more than %d attributes in list", e.Limit)
	case "attribute value":
		return fmt.Sprintf("attr: value of attribute %s longer than %d bytes", e.Name, e.Limit)
	}
	return fmt.Sprintf("attr: %s longer than %d bytes", e.What, e.Limit)
}

// Is makes errors.Is(err, ErrTooLong) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLong }

// ReadError wraps an I/O error (io.ErrUnexpectedEOF for an end of input in
// the middle of a list) with the item that was being read: "input attribute
// name" or "input attribute value", Postfix's words.
type ReadError struct {
	Item string
	Err  error
}

func (e *ReadError) Error() string { return "attr: " + e.Message("") }

func (e *ReadError) Unwrap() error { return e.Err }

// Message returns the text Postfix logs for this error on a stream called
// peer, e.g. "premature end-of-input on plaintext while reading input
// attribute name". An empty peer is left out.
func (e *ReadError) Message(peer string) string {
	on := ""
	if peer != "" {
		on = " on " + peer
	}
	if e.Err == io.ErrUnexpectedEOF {
		return "premature end-of-input" + on + " while reading " + e.Item
	}
	return fmt.Sprintf("read error%s while reading %s: %v", on, e.Item, e.Err)
}

// maxEmptyReads bounds how often a misbehaving io.Reader may return (0, nil).
const maxEmptyReads = 100

// Reader reads attribute lists from a stream. A Reader is not safe for
// concurrent use. The limit fields may be changed between calls; a value
// <= 0 selects the default.
type Reader struct {
	MaxNameLen  int // longest attribute name, bytes
	MaxValueLen int // longest attribute value, bytes
	MaxListLen  int // longest list including all NULs, bytes
	MaxAttrs    int // most attributes in one list

	rd      io.Reader
	buf     []byte
	pooled  *[]byte // the pool's hold on buf, nil once released
	r, w    int     // buf[r:w] is read but not consumed
	readErr error   // error from the last read, reported once the buffer is empty
	tok     []byte  // scratch space for the token being read
	left    int     // bytes the current list may still consume
}

// NewReader returns a Reader with the default limits.
func NewReader(rd io.Reader) *Reader {
	r := &Reader{
		MaxNameLen:  DefaultMaxNameLen,
		MaxValueLen: DefaultMaxValueLen,
		MaxListLen:  DefaultMaxListLen,
		MaxAttrs:    DefaultMaxAttrs,
		rd:          rd,
		pooled:      bufPool.Get().(*[]byte),
	}
	r.buf = *r.pooled
	return r
}

// bufPool holds the buffers of released Readers: a daemon that reads a
// request or two per session then reuses one buffer instead of
// allocating a fresh one each time.
var bufPool = sync.Pool{New: func() any { b := make([]byte, BufSize); return &b }}

// Release gives r's buffer back for another Reader; r must not be used
// afterwards. Calling it is optional (an unreleased buffer is collected
// as garbage) and it may be called more than once.
func (r *Reader) Release() {
	if r == nil || r.pooled == nil {
		return
	}
	bufPool.Put(r.pooled)
	r.pooled, r.buf, r.rd = nil, nil, nil
}

// Buffered returns the number of bytes read from the underlying reader but
// not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// fill reads once into the (empty) buffer.
func (r *Reader) fill() error {
	r.r, r.w = 0, 0
	if err := r.readErr; err != nil {
		r.readErr = nil
		return err
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf)
		r.w = n
		if n > 0 {
			r.readErr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// token consumes bytes up to and including the first byte from delims and
// returns the bytes before it and the delimiter. At most max bytes may
// precede the delimiter; beyond that it returns errLimit having consumed
// exactly max bytes. On an I/O error, n tells how many bytes were consumed.
func (r *Reader) token(delims string, max int) (tok []byte, delim byte, n int, err error) {
	r.tok = r.tok[:0]
	for {
		if r.r == r.w {
			if err := r.fill(); err != nil {
				return nil, 0, len(r.tok), err
			}
		}
		room := max - len(r.tok)
		window := r.buf[r.r:r.w]
		if len(window) > room+1 {
			window = window[:room+1]
		}
		if i := bytes.IndexAny(window, delims); i >= 0 {
			r.tok = append(r.tok, window[:i]...)
			r.r += i + 1
			r.left -= len(r.tok) + 1
			return r.tok, window[i], len(r.tok) + 1, nil
		}
		if len(window) > room {
			r.tok = append(r.tok, window[:room]...)
			r.r += room
			r.left -= len(r.tok)
			return nil, 0, len(r.tok), errLimit
		}
		r.tok = append(r.tok, window...)
		r.r += len(window)
	}
}

var errLimit = errors.New("limit")

// item reads one name or value; fieldMax is the field's own limit.
func (r *Reader) item(delims, what, name string, fieldMax int) ([]byte, byte, int, error) {
	max, err := fieldMax, &LimitError{What: what, Name: name, Limit: fieldMax}
	if r.left-1 < max { // the list budget is the tighter one
		max, err = r.left-1, &LimitError{What: "attribute list", Limit: orDefault(r.MaxListLen, DefaultMaxListLen)}
	}
	if max < 0 { // not even room for the delimiter
		return nil, 0, 0, err
	}
	tok, d, n, e := r.token(delims, max)
	if e == errLimit {
		return nil, 0, n, err
	}
	return tok, d, n, e
}

// ReadList reads one attr0 list. It returns io.EOF only if the input ends
// before the first byte of the list; an end of input inside a list yields a
// *ReadError wrapping io.ErrUnexpectedEOF. On any error the rest of the list
// stays unread and the stream cannot be resynchronized.
func (r *Reader) ReadList() (List, error) { return r.readList(false) }

// ReadPlainList reads one list in the plain encoding (name=value LF ...
// LF). A line without "=" and NUL bytes are errors.
func (r *Reader) ReadPlainList() (List, error) { return r.readList(true) }

var (
	errPlainNUL  = errors.New("attr: NUL byte in plain-encoded input")
	errEmptyName = errors.New("attr: empty attribute name")
)

// readList is the name/value state machine shared by both encodings. In
// attr0 a name and a value each end at NUL and an empty name ends the list;
// in plain a name ends at "=" (value follows, up to LF) or LF (only an empty
// name, the end of the list, may end there).
func (r *Reader) readList(plain bool) (List, error) {
	nameDelims, valueDelims, endOfList := "\x00", "\x00", byte(0)
	if plain {
		nameDelims, valueDelims, endOfList = "=\n\x00", "\n\x00", '\n'
	}
	r.left = orDefault(r.MaxListLen, DefaultMaxListLen)
	maxAttrs := orDefault(r.MaxAttrs, DefaultMaxAttrs)
	l := List{}
	for {
		name, d, n, err := r.item(nameDelims, "attribute name", "", orDefault(r.MaxNameLen, DefaultMaxNameLen))
		switch {
		case err == io.EOF && n == 0 && len(l) == 0:
			return nil, io.EOF
		case err != nil:
			return nil, wrapRead("input attribute name", err)
		case plain && d == 0:
			return nil, errPlainNUL
		case len(name) == 0 && d == endOfList:
			return l, nil
		case len(name) == 0:
			return nil, errEmptyName
		case string(name) == "{" || string(name) == "}":
			return nil, ErrHashUnsupported
		case d == endOfList && plain:
			return nil, fmt.Errorf("attr: missing value for attribute %s", name)
		case len(l) == maxAttrs:
			return nil, &LimitError{What: "attribute count", Limit: maxAttrs}
		}
		a := Attr{Name: string(name)}
		value, d, _, err := r.item(valueDelims, "attribute value", a.Name, orDefault(r.MaxValueLen, DefaultMaxValueLen))
		switch {
		case err != nil:
			return nil, wrapRead("input attribute value", err)
		case plain && d == 0:
			return nil, errPlainNUL
		}
		a.Value = string(value)
		l = append(l, a)
	}
}

// wrapRead turns an I/O error inside a list into a *ReadError.
func wrapRead(item string, err error) error {
	var le *LimitError
	if errors.As(err, &le) {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &ReadError{Item: item, Err: err}
}

// More reports whether another attribute follows in the current list, like
// Postfix's attr_scan_more: a NUL (list terminator) is consumed and reported
// as false; any other byte is left unread and reported as true.
func (r *Reader) More() (bool, error) {
	if r.r == r.w {
		if err := r.fill(); err != nil {
			return false, wrapRead("input attribute name", err)
		}
	}
	if r.buf[r.r] == 0 {
		r.r++
		return false, nil
	}
	return true, nil
}

// ParseList decodes exactly one attr0 list that must fill all of b. The
// Reader limits do not apply: b is already in memory.
func ParseList(b []byte) (List, error) { return parseAll(b, false) }

// ParsePlain decodes exactly one plain-encoded list that must fill all of b.
func ParsePlain(b []byte) (List, error) { return parseAll(b, true) }

func parseAll(b []byte, plain bool) (List, error) {
	br := bytes.NewReader(b)
	r := NewReader(br)
	r.MaxNameLen, r.MaxValueLen, r.MaxListLen, r.MaxAttrs = len(b)+1, len(b)+1, len(b)+1, len(b)+1
	l, err := r.readList(plain)
	if err == io.EOF {
		err = &ReadError{Item: "input attribute name", Err: io.ErrUnexpectedEOF}
	}
	if err != nil {
		return nil, err
	}
	if rest := r.Buffered() + br.Len(); rest > 0 {
		return nil, fmt.Errorf("attr: %d bytes after the end of the list", rest)
	}
	return l, nil
}
