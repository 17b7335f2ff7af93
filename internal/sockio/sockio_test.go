package sockio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/pftest/leak"
)

// endpoint is what the tests need from one end of a connection; both
// *os.File and the net package's connections provide it.
type endpoint interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	SyscallConn() (syscall.RawConn, error)
}

// pairKinds are the connection kinds the Read/Write tests run on.
var pairKinds = []struct {
	name string
	make func(t *testing.T) (a, b endpoint)
}{
	{"socketpair-file", func(t *testing.T) (endpoint, endpoint) {
		a, b := filePair(t, unix.SOCK_STREAM, true)
		return a, b
	}},
	{"unix", unixPair},
	{"tcp", tcpPair},
}

// filePair returns both ends of a socketpair as *os.File, closed at the
// end of the test. Non-blocking ends are served by Go's poller.
func filePair(t *testing.T, typ int, nonblock bool) (*os.File, *os.File) {
	t.Helper()
	flags := typ | unix.SOCK_CLOEXEC
	if nonblock {
		flags |= unix.SOCK_NONBLOCK
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, flags, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// netPair returns both ends of a connection made through a listener on
// network and address, closed at the end of the test.
func netPair(t *testing.T, network, address string) (endpoint, endpoint) {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(endpoint), s.(endpoint)
}

func unixPair(t *testing.T) (endpoint, endpoint) {
	return netPair(t, "unix", filepath.Join(t.TempDir(), "s"))
}

func tcpPair(t *testing.T) (endpoint, endpoint) { return netPair(t, "tcp", "127.0.0.1:0") }

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	return rc
}

// control runs f on the descriptor under c.
func control(t *testing.T, c syscall.Conn, f func(fd uintptr)) {
	t.Helper()
	if err := rawConn(t, c).Control(f); err != nil {
		t.Fatalf("Control: %v", err)
	}
}

func TestReadWriteRoundTrip(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			leak.AtEnd(t)
			a, b := k.make(t)
			ra, rb := rawConn(t, a), rawConn(t, b)
			msgs := []string{"x", "hello, world", string(bytes.Repeat([]byte("0123456789"), 1000))}
			for _, m := range msgs {
				n, err := Write(ra, []byte(m))
				if err != nil || n != len(m) {
					t.Fatalf("Write(%d bytes) = %d, %v", len(m), n, err)
				}
				got := make([]byte, 0, len(m))
				buf := make([]byte, 4096)
				for i := 0; len(got) < len(m) && i < 100; i++ {
					n, err := Read(rb, buf)
					if err != nil || n == 0 {
						t.Fatalf("Read = %d, %v", n, err)
					}
					got = append(got, buf[:n]...)
				}
				if string(got) != m {
					t.Fatalf("read %q..., want %q...", trunc(got), trunc([]byte(m)))
				}
			}
			// The other direction.
			if n, err := Write(rb, []byte("back")); err != nil || n != 4 {
				t.Fatalf("Write back = %d, %v", n, err)
			}
			buf := make([]byte, 16)
			if n, err := Read(ra, buf); err != nil || string(buf[:n]) != "back" {
				t.Fatalf("Read back = %q, %v", buf[:n], err)
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

func TestReadWaitsForData(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			leak.AtEnd(t)
			a, b := k.make(t)
			go1 := make(chan struct{})
			werr := make(chan error, 1)
			go func() {
				<-go1
				_, err := a.Write([]byte("late"))
				werr <- err
			}()
			type result struct {
				s   string
				err error
			}
			res := make(chan result, 1)
			go func() {
				buf := make([]byte, 16)
				n, err := Read(rawConn(t, b), buf)
				res <- result{string(buf[:n]), err}
			}()
			select {
			case r := <-res:
				t.Fatalf("Read returned before any data was written: %q, %v", r.s, r.err)
			default:
			}
			close(go1)
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if r := <-res; r.err != nil || r.s != "late" {
				t.Fatalf("Read = %q, %v; want \"late\"", r.s, r.err)
			}
		})
	}
}

func TestReadEOF(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			a, b := k.make(t)
			if _, err := a.Write([]byte("last")); err != nil {
				t.Fatal(err)
			}
			a.Close()
			rb := rawConn(t, b)
			buf := make([]byte, 16)
			if n, err := Read(rb, buf); err != nil || string(buf[:n]) != "last" {
				t.Fatalf("Read = %q, %v; want \"last\"", buf[:n], err)
			}
			for i := 0; i < 2; i++ { // EOF is sticky
				if n, err := Read(rb, buf); n != 0 || err != nil {
					t.Fatalf("Read at EOF = %d, %v; want 0, nil", n, err)
				}
			}
		})
	}
}

func TestReadDeadline(t *testing.T) {
	deadlines := []struct {
		name string
		d    time.Duration
	}{
		{"past", -time.Second},
		{"short", 20 * time.Millisecond},
	}
	for _, k := range pairKinds {
		for _, dl := range deadlines {
			t.Run(k.name+"/"+dl.name, func(t *testing.T) {
				_, b := k.make(t)
				if err := b.SetReadDeadline(time.Now().Add(dl.d)); err != nil {
					t.Fatal(err)
				}
				n, err := Read(rawConn(t, b), make([]byte, 16))
				if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read = %d, %v; want 0, deadline exceeded", n, err)
				}
			})
		}
	}
}

func TestReadClosed(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			_, b := k.make(t)
			rb := rawConn(t, b)
			b.Close()
			if n, err := Read(rb, make([]byte, 16)); n != 0 || err == nil {
				t.Fatalf("Read on closed = %d, %v; want an error", n, err)
			}
		})
	}
}

func TestReadEmptyBuffer(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			_, b := k.make(t)
			// No data is queued: a zero-length read must not wait.
			if n, err := Read(rawConn(t, b), nil); n != 0 || err != nil {
				t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

func TestWriteLarge(t *testing.T) {
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	want := sha256.Sum256(big)
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			leak.AtEnd(t)
			a, b := k.make(t)
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			res := make(chan result, 1)
			go func() {
				h := sha256.New()
				n, err := io.Copy(h, b)
				var r result
				copy(r.sum[:], h.Sum(nil))
				r.n, r.err = n, err
				res <- r
			}()
			n, err := Write(rawConn(t, a), big)
			if err != nil || n != len(big) {
				t.Errorf("Write = %d, %v; want %d, nil", n, err, len(big))
			}
			a.Close()
			r := <-res
			if r.err != nil || r.n != int64(len(big)) || r.sum != want {
				t.Fatalf("reader got %d bytes (err %v), hash match %v", r.n, r.err, r.sum == want)
			}
		})
	}
}

func TestWriteDeadline(t *testing.T) {
	big := make([]byte, 16<<20) // more than any loopback buffer
	for i := range big {
		big[i] = byte(i)
	}
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			a, b := k.make(t)
			if err := a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			n, err := Write(rawConn(t, a), big)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Write err = %v; want deadline exceeded", err)
			}
			if n <= 0 || n >= len(big) {
				t.Fatalf("Write n = %d; want 0 < n < %d", n, len(big))
			}
			a.Close()
			got, err := io.ReadAll(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n || !bytes.Equal(got, big[:n]) {
				t.Fatalf("reader got %d bytes, Write reported %d (equal prefix %v)",
					len(got), n, bytes.Equal(got, big[:min(len(got), len(big))]))
			}
		})
	}
}

func TestWriteClosedPeer(t *testing.T) {
	for _, k := range pairKinds {
		t.Run(k.name, func(t *testing.T) {
			a, b := k.make(t)
			b.Close()
			ra := rawConn(t, a)
			// A UNIX socket fails at once; TCP accepts the first write and
			// fails once the peer's reset is back.
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = Write(ra, []byte("x"))
			}
			if !errors.Is(err, syscall.EPIPE) && !(k.name == "tcp" && errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("Write to closed peer: %v; want EPIPE", err)
			}
			if k.name != "tcp" {
				// Still EPIPE, still no SIGPIPE death.
				if _, err := Write(ra, []byte("y")); !errors.Is(err, syscall.EPIPE) {
					t.Fatalf("second Write: %v; want EPIPE", err)
				}
			}
		})
	}
}

func TestWriteEmpty(t *testing.T) {
	a, _ := filePair(t, unix.SOCK_STREAM, true)
	if n, err := Write(rawConn(t, a), nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
}

func TestWriteOnce(t *testing.T) {
	leak.AtEnd(t)
	a, b := filePair(t, unix.SOCK_DGRAM, true)
	ra := rawConn(t, a)
	cases := []struct {
		in      []byte
		wantN   int
		wantErr error
	}{
		{[]byte("one datagram"), 12, nil},
		{[]byte("x"), 1, nil},
		{nil, 0, nil},
		{make([]byte, 4<<20), 0, syscall.EMSGSIZE}, // larger than the send buffer
	}
	for _, c := range cases {
		n, err := WriteOnce(ra, c.in)
		if n != c.wantN || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("WriteOnce(%d bytes) = %d, %v; want %d, %v", len(c.in), n, err, c.wantN, c.wantErr)
		}
	}
	// Each write arrived as its own datagram.
	buf := make([]byte, 64)
	for _, want := range []string{"one datagram", "x"} {
		n, err := Read(rawConn(t, b), buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("Read = %q, %v; want %q", buf[:n], err, want)
		}
	}
}

func TestWriteOnceFull(t *testing.T) {
	a, b := filePair(t, unix.SOCK_DGRAM, true)
	ra := rawConn(t, a)
	dgram := make([]byte, 1024)
	sent := 0
	var err error
	for ; sent < 1<<16; sent++ {
		if _, err = WriteOnce(ra, dgram); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.EAGAIN) || sent == 0 {
		t.Fatalf("after %d datagrams: %v; want EAGAIN", sent, err)
	}
	// The queued datagrams are all there, whole.
	rb := rawConn(t, b)
	for i := 0; i < sent; i++ {
		if n, err := Read(rb, make([]byte, 2048)); n != len(dgram) || err != nil {
			t.Fatalf("datagram %d: Read = %d, %v", i, n, err)
		}
	}
	if err := b.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(rb, make([]byte, 2048)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("extra datagram: %v", err)
	}
}

func TestWriteOnceDeadline(t *testing.T) {
	a, _ := filePair(t, unix.SOCK_DGRAM, true)
	a.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := WriteOnce(rawConn(t, a), []byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteOnce past deadline = %d, %v", n, err)
	}
}

// sendFDs sends data with the descriptors fds over f.
func sendFDs(t *testing.T, f *os.File, data []byte, fds ...int) {
	t.Helper()
	var err error
	control(t, f, func(fd uintptr) {
		err = unix.Sendmsg(int(fd), data, unix.UnixRights(fds...), nil, 0)
	})
	if err != nil {
		t.Fatalf("sendmsg: %v", err)
	}
}

func sameFile(t *testing.T, fd1, fd2 int) bool {
	t.Helper()
	var s1, s2 unix.Stat_t
	if err := unix.Fstat(fd1, &s1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd2, &s2); err != nil {
		t.Fatal(err)
	}
	return s1.Dev == s2.Dev && s1.Ino == s2.Ino
}

func TestRecvmsg(t *testing.T) {
	leak.AtEnd(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	cases := []struct {
		name     string
		send     int // descriptors sent (copies of pr)
		oobSize  int
		wantFDs  int
		wantOOBN int
		ctrunc   bool
	}{
		{"one fd", 1, unix.CmsgSpace(4), 1, unix.CmsgSpace(4), false},
		{"roomy oob", 1, 256, 1, unix.CmsgSpace(4), false},
		{"no oob buffer", 1, 0, 0, 0, true},
		{"oob smaller than a header", 1, 8, 0, 0, true},
		{"room for one of two", 2, unix.CmsgLen(4), 1, unix.CmsgLen(4), true},
		{"no fd", 0, unix.CmsgSpace(4), 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := filePair(t, unix.SOCK_STREAM, true)
			fds := make([]int, c.send)
			for i := range fds {
				fds[i] = int(pr.Fd())
			}
			if c.send > 0 {
				sendFDs(t, a, []byte("M"), fds...)
			} else if _, err := a.Write([]byte("M")); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 8)
			oob := make([]byte, c.oobSize)
			n, oobn, flags, err := Recvmsg(rawConn(t, b), p, oob)
			if err != nil {
				t.Fatalf("Recvmsg: %v", err)
			}
			var got []int
			if oobn > 0 {
				msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
				if err != nil {
					t.Fatalf("ParseSocketControlMessage: %v", err)
				}
				for _, m := range msgs {
					fds, err := unix.ParseUnixRights(&m)
					if err != nil {
						t.Fatalf("ParseUnixRights: %v", err)
					}
					got = append(got, fds...)
				}
			}
			defer func() {
				for _, fd := range got {
					unix.Close(fd)
				}
			}()
			if n != 1 || p[0] != 'M' {
				t.Errorf("n = %d, data %q; want 1, \"M\"", n, p[:n])
			}
			if oobn != c.wantOOBN {
				t.Errorf("oobn = %d; want %d", oobn, c.wantOOBN)
			}
			if (flags&unix.MSG_CTRUNC != 0) != c.ctrunc {
				t.Errorf("flags = %#x; want MSG_CTRUNC %v", flags, c.ctrunc)
			}
			if other := flags &^ (unix.MSG_CTRUNC | unix.MSG_CMSG_CLOEXEC); other != 0 {
				t.Errorf("unexpected flags %#x", other)
			}
			if len(got) != c.wantFDs {
				t.Fatalf("got %d descriptors; want %d", len(got), c.wantFDs)
			}
			for _, fd := range got {
				fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil || fl&unix.FD_CLOEXEC == 0 {
					t.Errorf("received fd %d: F_GETFD = %#x, %v; want FD_CLOEXEC", fd, fl, err)
				}
				if !sameFile(t, fd, int(pr.Fd())) {
					t.Errorf("received fd %d is not the pipe that was sent", fd)
				}
			}
		})
	}
}

// Linux copies the recvmsg(2) call's MSG_CMSG_CLOEXEC into msg_flags;
// Recvmsg masks it off, so a plain message has no flags at all.
func TestRecvmsgFlagsPlain(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	if _, err := a.Write([]byte("M")); err != nil {
		t.Fatal(err)
	}
	_, _, flags, err := Recvmsg(rawConn(t, b), make([]byte, 8), make([]byte, 64))
	if err != nil || flags != 0 {
		t.Fatalf("Recvmsg flags = %#x, %v; want 0, nil", flags, err)
	}
}

func TestRecvmsgWaitsAndEOF(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	rb := rawConn(t, b)
	type result struct {
		n, oobn int
		err     error
	}
	res := make(chan result, 1)
	recv := func() {
		n, oobn, _, err := Recvmsg(rb, make([]byte, 8), make([]byte, 64))
		res <- result{n, oobn, err}
	}
	go recv()
	select {
	case r := <-res:
		t.Fatalf("Recvmsg returned before data: %+v", r)
	default:
	}
	if _, err := a.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.n != 3 || r.oobn != 0 || r.err != nil {
		t.Fatalf("Recvmsg = %+v; want 3 bytes", r)
	}
	a.Close()
	go recv()
	if r := <-res; r.n != 0 || r.oobn != 0 || r.err != nil {
		t.Fatalf("Recvmsg at EOF = %+v; want 0, 0, nil", r)
	}
	b.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, _, err := Recvmsg(rb, make([]byte, 8), nil); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recvmsg past deadline: %v", err)
	}
}

func peek(t *testing.T, f *os.File) (int, error) {
	var n int
	var err error
	control(t, f, func(fd uintptr) { n, err = Peek(fd) })
	return n, err
}

func TestPeek(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	if n, err := peek(t, b); n != 0 || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Peek on empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	if _, err := a.Write([]byte("qz")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // peeking twice consumes nothing
		if n, err := peek(t, b); n != 1 || err != nil {
			t.Fatalf("Peek with data = %d, %v; want 1, nil", n, err)
		}
	}
	buf := make([]byte, 8)
	b.SetReadDeadline(time.Now().Add(5 * time.Second)) // fail, not hang, if Peek consumed
	if n, err := Read(rawConn(t, b), buf); err != nil || string(buf[:n]) != "qz" {
		t.Fatalf("Read after Peek = %q, %v; want \"qz\"", buf[:n], err)
	}
	if n, err := peek(t, b); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Peek after draining = %d, %v; want EAGAIN", n, err)
	}
	a.Close()
	if n, err := peek(t, b); n != 0 || err != nil {
		t.Fatalf("Peek at EOF = %d, %v; want 0, nil", n, err)
	}
}

func sendNow(t *testing.T, f *os.File, b []byte) (int, error) {
	var n int
	var err error
	control(t, f, func(fd uintptr) { n, err = SendNow(fd, b) })
	return n, err
}

func TestSendNow(t *testing.T) {
	for _, nonblock := range []bool{true, false} {
		name := "blocking"
		if nonblock {
			name = "nonblocking"
		}
		t.Run(name, func(t *testing.T) {
			leak.AtEnd(t)
			a, b := filePair(t, unix.SOCK_STREAM, nonblock)
			if n, err := sendNow(t, a, []byte("now")); n != 3 || err != nil {
				t.Fatalf("SendNow = %d, %v; want 3, nil", n, err)
			}
			got := make([]byte, 8)
			if n, err := b.Read(got); err != nil || string(got[:n]) != "now" {
				t.Fatalf("peer read %q, %v", got[:n], err)
			}
			if n, err := sendNow(t, a, nil); n != 0 || err != nil {
				t.Fatalf("SendNow(nil) = %d, %v", n, err)
			}
			// Fill the buffer: SendNow must say EAGAIN, not wait, even
			// on a blocking descriptor.
			chunk := make([]byte, 64<<10)
			total := 0
			var err error
			for i := 0; i < 10000; i++ {
				var n int
				if n, err = sendNow(t, a, chunk); err != nil {
					break
				}
				total += n
			}
			if !errors.Is(err, syscall.EAGAIN) || total == 0 {
				t.Fatalf("filling: %d bytes then %v; want EAGAIN", total, err)
			}
			// The peer is gone: EPIPE, no SIGPIPE (MSG_NOSIGNAL).
			b.Close()
			if _, err := sendNow(t, a, []byte("x")); !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("SendNow to closed peer: %v; want EPIPE", err)
			}
		})
	}
}

func TestSendNowPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if n, err := sendNow(t, pw, []byte("x")); n != 0 || !errors.Is(err, syscall.ENOTSOCK) {
		t.Fatalf("SendNow on pipe = %d, %v; want 0, ENOTSOCK", n, err)
	}
}

func readable(t *testing.T, f *os.File) bool {
	var r bool
	control(t, f, func(fd uintptr) { r = Readable(fd) })
	return r
}

func TestReadable(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	if readable(t, b) {
		t.Fatal("Readable on idle socket = true")
	}
	if _, err := a.Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	if !readable(t, b) {
		t.Fatal("Readable with data queued = false")
	}
	if _, err := b.Read(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if readable(t, b) {
		t.Fatal("Readable after draining = true")
	}
	a.Close()
	if !readable(t, b) {
		t.Fatal("Readable after peer close = false")
	}
	// As a RawConn.Read callback it returns at once once readable.
	if err := rawConn(t, b).Read(Readable); err != nil {
		t.Fatalf("RawConn.Read(Readable): %v", err)
	}
}

func TestReadableWaits(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	done := make(chan error, 1)
	go func() { done <- rawConn(t, b).Read(Readable) }()
	select {
	case err := <-done:
		t.Fatalf("RawConn.Read(Readable) returned on idle socket: %v", err)
	default:
	}
	if _, err := a.Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSockType(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	stream, _ := filePair(t, unix.SOCK_STREAM, true)
	dgram, _ := filePair(t, unix.SOCK_DGRAM, true)
	seq, _ := filePair(t, unix.SOCK_SEQPACKET, false)
	tcp, _ := tcpPair(t)
	cases := []struct {
		name    string
		c       syscall.Conn
		want    int
		wantErr error
	}{
		{"stream", stream, unix.SOCK_STREAM, nil},
		{"dgram", dgram, unix.SOCK_DGRAM, nil},
		{"seqpacket", seq, unix.SOCK_SEQPACKET, nil},
		{"tcp", tcp.(syscall.Conn), unix.SOCK_STREAM, nil},
		{"pipe", pr, 0, syscall.ENOTSOCK},
	}
	for _, c := range cases {
		var typ int
		var err error
		control(t, c.c, func(fd uintptr) { typ, err = SockType(fd) })
		if typ != c.want || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("%s: SockType = %d, %v; want %d, %v", c.name, typ, err, c.want, c.wantErr)
		}
	}
}

func TestSetNonblock(t *testing.T) {
	cases := []struct {
		name     string
		nonblock bool
	}{
		{"blocking", false},
		{"nonblocking", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if err := unix.SetNonblock(fds[0], c.nonblock); err != nil {
				t.Fatal(err)
			}
			if err := SetNonblock(uintptr(fds[0])); err != nil {
				t.Fatalf("SetNonblock: %v", err)
			}
			fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fl&unix.O_NONBLOCK == 0 {
				t.Fatalf("F_GETFL = %#x after SetNonblock; want O_NONBLOCK", fl)
			}
			if fl&unix.O_ACCMODE != unix.O_RDWR {
				t.Fatalf("F_GETFL = %#x; access mode changed", fl)
			}
			// The other end is untouched.
			if fl, _ := unix.FcntlInt(uintptr(fds[1]), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
				t.Fatalf("peer became non-blocking")
			}
		})
	}
}

func TestBadDescriptor(t *testing.T) {
	const bad = 1 << 20 // above any descriptor this process has
	if err := SetNonblock(bad); !errors.Is(err, syscall.EBADF) {
		t.Errorf("SetNonblock(bad) = %v; want EBADF", err)
	}
	if _, err := SockType(bad); !errors.Is(err, syscall.EBADF) {
		t.Errorf("SockType(bad) = %v; want EBADF", err)
	}
	if _, err := Peek(bad); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Peek(bad) = %v; want EBADF", err)
	}
	if _, err := SendNow(bad, []byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Errorf("SendNow(bad) = %v; want EBADF", err)
	}
	if !Readable(bad) { // POLLNVAL: let the caller's read report it
		t.Errorf("Readable(bad) = false; want true")
	}
}

// listenFile returns a listener and a *os.File duplicate of its socket.
func listenFile(t *testing.T, network string) (net.Listener, *os.File) {
	t.Helper()
	var ln net.Listener
	var err error
	if network == "unix" {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "l"), Net: "unix"})
	} else {
		ln, err = net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); ln.Close() })
	return ln, f
}

func TestAccept(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			leak.AtEnd(t)
			ln, lf := listenFile(t, network)
			type result struct {
				f   *os.File
				err error
			}
			res := make(chan result, 1)
			go func() {
				f, err := Accept(rawConn(t, lf))
				res <- result{f, err}
			}()
			select {
			case r := <-res:
				t.Fatalf("Accept returned before any client: %v, %v", r.f, r.err)
			default:
			}
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := <-res
			if r.err != nil {
				t.Fatalf("Accept: %v", r.err)
			}
			s := r.f
			defer s.Close()
			fl, err := unix.FcntlInt(s.Fd(), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_NONBLOCK == 0 {
				t.Errorf("accepted F_GETFL = %#x, %v; want O_NONBLOCK", fl, err)
			}
			if fd, err := unix.FcntlInt(s.Fd(), unix.F_GETFD, 0); err != nil || fd&unix.FD_CLOEXEC == 0 {
				t.Errorf("accepted F_GETFD = %#x, %v; want FD_CLOEXEC", fd, err)
			}
			// Served by Go's poller: a deadline works.
			if err := s.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
				t.Errorf("accepted SetReadDeadline: %v", err)
			}
			s.SetReadDeadline(time.Time{})
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if n, err := Read(rawConn(t, s), buf); err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("server read %q, %v", buf[:n], err)
			}
			if n, err := Write(rawConn(t, s), []byte("pong")); n != 4 || err != nil {
				t.Fatalf("server write %d, %v", n, err)
			}
			if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "pong" {
				t.Fatalf("client read %q, %v", buf[:4], err)
			}
		})
	}
}

func TestAcceptClosed(t *testing.T) {
	leak.AtEnd(t)
	_, lf := listenFile(t, "unix")
	rc := rawConn(t, lf)
	res := make(chan error, 1)
	go func() {
		f, err := Accept(rc)
		if f != nil {
			f.Close()
		}
		res <- err
	}()
	// Whether Accept is already waiting or not, closing must end it.
	lf.Close()
	if err := <-res; err == nil {
		t.Fatal("Accept on closed listener returned no error")
	}
	if _, err := Accept(rc); err == nil {
		t.Fatal("second Accept on closed listener returned no error")
	}
}

func TestAcceptDeadline(t *testing.T) {
	_, lf := listenFile(t, "unix")
	lf.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if f, err := Accept(rawConn(t, lf)); f != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept with deadline = %v, %v", f, err)
	}
}

// Data handed from one goroutine to another through a socket is ordered
// for the race detector (race.go): without the annotations this correct
// program is reported as a data race under -race.
func TestRaceHappensBefore(t *testing.T) {
	a, b := filePair(t, unix.SOCK_STREAM, true)
	var shared int
	done := make(chan struct{})
	go func() {
		defer close(done)
		shared = 42
		Write(rawConn(t, a), []byte("x"))
	}()
	if n, err := Read(rawConn(t, b), make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if shared != 42 {
		t.Fatalf("shared = %d", shared)
	}
	<-done
}

// TestYield: Yield is a bare system call, made on every session's
// second look for an early client: it must allocate nothing. What it is
// for is covered by internal/proxy's generation tests.
func TestYield(t *testing.T) {
	if n := testing.AllocsPerRun(100, Yield); n != 0 {
		t.Errorf("Yield allocates %v times per call, want 0", n)
	}
}

// TestOpError: errors are worded as net's own: an errno named after the
// system call, a net RawConn's own *net.OpError unwrapped, a deadline
// still a timeout, the addresses kept.
func TestOpError(t *testing.T) {
	addr := &net.UnixAddr{Name: "private/tlsproxy", Net: "unix"}
	for _, tc := range []struct {
		name      string
		err       error
		text      string
		is        error
		isTimeout bool
	}{
		{"errno", syscall.ECONNRESET, "read unix private/tlsproxy: recvmsg: connection reset by peer", syscall.ECONNRESET, false},
		{"raw wrapping", &net.OpError{Op: "raw-read", Net: "unix", Err: os.ErrDeadlineExceeded},
			"read unix private/tlsproxy: i/o timeout", os.ErrDeadlineExceeded, true},
		{"other", io.ErrClosedPipe, "read unix private/tlsproxy: io: read/write on closed pipe", io.ErrClosedPipe, false},
	} {
		err := OpError("read", "recvmsg", "unix", nil, addr, tc.err)
		var ne net.Error
		if err.Error() != tc.text || !errors.Is(err, tc.is) || !errors.As(err, &ne) || ne.Timeout() != tc.isTimeout {
			t.Errorf("%s: %v (timeout %v)", tc.name, err, ne != nil && ne.Timeout())
		}
	}
}
