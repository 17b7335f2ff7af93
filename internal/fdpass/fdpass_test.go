package fdpass_test

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pftest/leak"
)

// pipe returns a pipe; the write end is what tests pass around. Once the
// test closed its own write end, EOF on the read end proves that no other
// copy of the write end (such as one received by Recv) is still open.
func pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// expectEOF reads r with a deadline; it fails unless the read ends with EOF.
func expectEOF(t testing.TB, r *os.File) {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var b [16]byte
	if n, err := r.Read(b[:]); err != io.EOF {
		t.Fatalf("pipe read = %d, %v; want EOF (a copy of the write end leaked)", n, err)
	}
}

func rights(f *os.File, copies int) []byte {
	fds := make([]int, copies)
	for i := range fds {
		fds[i] = int(f.Fd())
	}
	return unix.UnixRights(fds...)
}

func sendRaw(t testing.TB, c *net.UnixConn, data, oob []byte) {
	t.Helper()
	if _, _, err := c.WriteMsgUnix(data, oob, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRecv(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, a, b *net.UnixConn, w *os.File)
		wantErr string // "" = success
		after   string // data that must still be readable after Recv
	}{
		{name: "good fd via Send", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			if err := fdpass.Send(a, w); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "good fd, then plaintext", after: "EHLO x\r\n", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{0}, rights(w, 1))
			sendRaw(t, a, []byte("EHLO x\r\n"), nil)
		}},
		{name: "any data byte value", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{'x'}, rights(w, 1))
		}},
		{name: "EOF", wantErr: "peer closed the connection: EOF", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			a.Close()
		}},
		{name: "data without fd", wantErr: "no file descriptor received", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{0}, nil)
		}},
		{name: "two fds in one message", wantErr: "got 2 file descriptors, want 1", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{0}, rights(w, 2))
		}},
		{name: "two SCM_RIGHTS cmsgs", wantErr: "got 2 file descriptors, want 1", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			// Linux merges them into one SCM_RIGHTS message on receipt.
			sendRaw(t, a, []byte{0}, append(rights(w, 1), rights(w, 1)...))
		}},
		{name: "credentials and fd", wantErr: "unexpected control message (level 1, type 2)", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			passCred(t, b)
			sendRaw(t, a, []byte{0}, rights(w, 1))
		}},
		{name: "credentials only", wantErr: "unexpected control message (level 1, type 2)", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			passCred(t, b)
			sendRaw(t, a, []byte{0}, nil)
		}},
		{name: "truncated control buffer", wantErr: "control message truncated", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{0}, rights(w, 3*fdpass.MaxFDs))
		}},
		{name: "two data bytes with fd", wantErr: "got 2 data bytes with the file descriptor, want 1", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{0, 0}, rights(w, 1))
		}},
		{name: "stray byte before fd", wantErr: "want 1", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			sendRaw(t, a, []byte{'x'}, nil)
			sendRaw(t, a, []byte{0}, rights(w, 1))
		}},
		{name: "deadline", wantErr: "i/o timeout", setup: func(t *testing.T, a, b *net.UnixConn, w *os.File) {
			b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pftest.UnixPair(t)
			r, w := pipe(t)
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			before := leak.FDCount(t)
			tc.setup(t, a, b, w)
			got, err := fdpass.Recv(b)
			if tc.wantErr != "" {
				if err == nil {
					got.Close()
					t.Fatalf("Recv succeeded, want error %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Recv error %q, want it to contain %q", err, tc.wantErr)
				}
				if n := leak.FDCount(t); n > before {
					t.Errorf("fd count %d after failed Recv, was %d", n, before)
				}
				w.Close()
				expectEOF(t, r)
				return
			}
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if n := leak.FDCount(t); n != before+1 {
				t.Errorf("fd count %d after Recv, want %d", n, before+1)
			}
			flags, err := unix.FcntlInt(got.Fd(), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC == 0 {
				t.Errorf("received fd flags %#x, %v; want FD_CLOEXEC", flags, err)
			}
			// The received descriptor is a working copy of w.
			if _, err := got.Write([]byte("ok")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			got.Close()
			if b, err := io.ReadAll(r); err != nil || string(b) != "ok" {
				t.Fatalf("pipe content %q, %v; want \"ok\"", b, err)
			}
			if tc.after != "" {
				buf := make([]byte, len(tc.after))
				if _, err := io.ReadFull(b, buf); err != nil || string(buf) != tc.after {
					t.Fatalf("data after fd = %q, %v; want %q", buf, err, tc.after)
				}
			}
		})
	}
}

func TestRecvDeadlineIsTimeout(t *testing.T) {
	_, b := pftest.UnixPair(t)
	b.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := fdpass.Recv(b)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv error %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestSendClosedFile(t *testing.T) {
	a, _ := pftest.UnixPair(t)
	_, w := pipe(t)
	w.Close()
	if err := fdpass.Send(a, w); err == nil {
		t.Fatal("Send of a closed file succeeded")
	}
}

func passCred(t *testing.T, c *net.UnixConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
}

// FuzzRecv sends arbitrary data bytes, with or without one descriptor,
// then closes the sending side. Recv must succeed exactly for one data
// byte with a descriptor, and must never leak a received descriptor.
func FuzzRecv(f *testing.F) {
	f.Add([]byte{0}, true)
	f.Add([]byte{0}, false)
	f.Add([]byte{}, false)
	f.Add([]byte{0, 0}, true)
	f.Add([]byte("remote_endpoint\x00[192.0.2.1]:25\x00\x00"), false)
	f.Fuzz(func(t *testing.T, data []byte, withFD bool) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		a, b := pftest.UnixPair(t)
		r, w := pipe(t)
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		if len(data) > 0 {
			var oob []byte
			if withFD {
				oob = rights(w, 1)
			}
			sendRaw(t, a, data, oob)
		}
		a.Close()
		got, err := fdpass.Recv(b)
		want := withFD && len(data) == 1
		if (err == nil) != want {
			t.Fatalf("Recv(%q, fd=%v) error = %v, want success %v", data, withFD, err, want)
		}
		if got != nil {
			got.Close()
		}
		w.Close()
		expectEOF(t, r)
	})
}
