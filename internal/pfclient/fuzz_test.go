package pfclient

import (
	"bytes"
	"io"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
)

// countingReader counts the bytes handed out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

var contextShapes = []int{9, 21, 22, 24, 25, 26}

// FuzzContext feeds arbitrary bytes to the context reader: it must never
// consume more than the one list it returns, and must accept a list only
// if it has exactly the expected names with well-formed integers.
func FuzzContext(f *testing.F) {
	for _, n := range contextShapes {
		f.Add(append(contextBytes(n), "EHLO x\r\n"...), uint8(n))
	}
	f.Add([]byte("peer_CN\x00\x00\x00"), uint8(9))
	f.Add([]byte("status\x001\x00\x00"), uint8(22))
	f.Fuzz(func(t *testing.T, data []byte, shape uint8) {
		n := contextShapes[int(shape)%len(contextShapes)]
		cr := &countingReader{r: bytes.NewReader(data)}
		l, err := readOne(cr, "TLS context")
		if err != nil {
			return
		}
		if enc := attr.AppendList(nil, l); !bytes.Equal(enc, data[:cr.n]) {
			t.Fatalf("consumed %q for the list %q", data[:cr.n], enc)
		}
		if checkContext(l, pfversion.ContextNames(n)) != nil {
			return
		}
		names := pfversion.ContextNames(n)
		if len(l) != n {
			t.Fatalf("accepted %d attributes for shape %d", len(l), n)
		}
		for i, a := range l {
			if a.Name != names[i] {
				t.Fatalf("accepted %q at %d, want %q", a.Name, i, names[i])
			}
			if contextInts[a.Name] {
				if _, err := attr.ParseInt(a.Value); err != nil {
					t.Fatalf("accepted %s=%q", a.Name, a.Value)
				}
			}
		}
	})
}
