package pfversion

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Every Postfix program carries its release as a C string built in at
// compile time, "mail_version=" followed by the release (mail_version.h,
// the stamp meant for "strings -f file | grep mail_version="). Reading it
// from a program file tells the release without running the program.

// stampPrefix starts the stamp.
const stampPrefix = "mail_version="

// maxStampValue bounds the release text after the prefix
// ("3.12-20260821-nonprod" is 21 bytes).
const maxStampValue = 40

// stampChunk is how much of a file is read at a time.
const stampChunk = 64 << 10

// ErrNoStamp means a file has no Postfix version stamp: it is not a
// Postfix program.
var ErrNoStamp = errors.New("no Postfix version stamp")

// FromProgram returns the release in the version stamp of a Postfix
// program or library read from r: the first "mail_version=<release>"
// ended by a NUL byte whose release parses (a "-nonprod" suffix is
// dropped). It reads r in chunks, to the end if there is no stamp.
func FromProgram(r io.Reader) (Version, error) {
	prefix := []byte(stampPrefix)
	// keep is what one chunk hands to the next: a stamp cut in two by
	// the chunk boundary.
	keep := len(prefix) + maxStampValue
	buf := make([]byte, 0, stampChunk+keep)
	firstBad := ""
	for eof := false; !eof; {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			eof = true
		case err != nil:
			return Version{}, err
		}
		// Stamps whose value may continue past buf wait for the next
		// chunk, unless there is none.
		done := len(buf)
		if !eof {
			done = len(buf) - keep
		}
		for off := 0; off < done; {
			i := bytes.Index(buf[off:], prefix)
			if i < 0 || off+i >= done {
				break
			}
			at := off + i + len(prefix)
			value := buf[at:min(len(buf), at+maxStampValue+1)]
			if end := bytes.IndexByte(value, 0); end > 0 {
				text := strings.TrimSuffix(string(value[:end]), "-nonprod")
				if v, err := Parse(text); err == nil {
					return v, nil
				} else if firstBad == "" {
					firstBad = text
				}
			}
			off = at
		}
		if eof {
			break
		}
		rest := copy(buf, buf[done:])
		buf = buf[:rest]
	}
	if firstBad != "" {
		return Version{}, fmt.Errorf("%w (only %q)", ErrNoStamp, firstBad)
	}
	return Version{}, ErrNoStamp
}
