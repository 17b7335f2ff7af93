package tlsclient

// Bounded file reads. The files a client-role request names (CAfile,
// CApath, certificates, keys, chain files) come from the requester, not
// from our main.cf: a name like /dev/zero or a FIFO must not grow memory
// without end or leave a read blocked for ever. Only regular files are
// read, each up to maxFileBytes, all of one context up to
// maxContextBytes, and a read that takes longer than fileReadTimeout
// (a hung network file system) is abandoned.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

const (
	// maxFileBytes bounds one file: Debian's whole CA bundle is about
	// 220 KB.
	maxFileBytes = 16 << 20
	// maxContextBytes bounds the files of one TLS context together
	// (CAfile, every CApath file, certificates and keys).
	maxContextBytes = 64 << 20
	// fileReadTimeout bounds reading one file.
	fileReadTimeout = 10 * time.Second
)

// fileBudget is what one context may still read.
type fileBudget struct{ left int64 }

func newFileBudget() *fileBudget { return &fileBudget{left: maxContextBytes} }

// errNotRegular is the reason for a file that is no regular file;
// errTooMuch for one beyond what a context may still read.
var (
	errNotRegular = errors.New("not a regular file")
	errTooMuch    = errors.New("too much data for one TLS context")
)

// read returns the contents of the regular file name, within the limits.
func (b *fileBudget) read(name string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "read", Path: name, Err: errNotRegular}
	}
	limit := min(int64(maxFileBytes), b.left)
	if st.Size() > limit {
		f.Close()
		return nil, b.tooLarge(name, limit)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		done <- result{data, err}
	}()
	timer := time.NewTimer(fileReadTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if int64(len(r.data)) > limit { // it grew while we read
			return nil, b.tooLarge(name, limit)
		}
		b.left -= int64(len(r.data))
		return r.data, nil
	case <-timer.C:
		// The goroutine ends when the read does; its result is dropped.
		return nil, &os.PathError{Op: "read", Path: name, Err: fmt.Errorf("no data after %v", fileReadTimeout)}
	}
}

// tooLarge is the error for a file beyond limit.
func (b *fileBudget) tooLarge(name string, limit int64) error {
	if limit < maxFileBytes {
		return &os.PathError{Op: "read", Path: name, Err: errTooMuch}
	}
	return &os.PathError{Op: "read", Path: name, Err: fmt.Errorf("file larger than %d bytes", limit)}
}
