package master

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statusPair returns the child's end of a status socketpair as an
// *os.File (as the daemon gets fd 5) and master's end as a conn.
func statusPair(t *testing.T) (child *os.File, master *net.UnixConn) {
	t.Helper()
	return statusPairMode(t, false)
}

// statusPairMode is statusPair with the child's end optionally
// non-blocking (served by Go's poller).
func statusPairMode(t *testing.T, nonblock bool) (child *os.File, master *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if nonblock {
		if err := unix.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
	}
	child = os.NewFile(uintptr(fds[0]), "status-child")
	mf := os.NewFile(uintptr(fds[1]), "status-master")
	c, err := net.FileConn(mf)
	mf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Close(); c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return child, c.(*net.UnixConn)
}

func TestStatusGolden(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden records are little-endian")
	}
	// Spec master-daemon §3.1: pid 10688 (0x29c0), generation 1.
	cases := []struct {
		name  string
		write func(*Status) error
		want  string
	}{
		{"taken", (*Status).Taken, "c0290000 01000000 00000000"},
		{"available", (*Status).Available, "c0290000 01000000 01000000"},
	}
	child, m := statusPair(t)
	s := NewStatus(child, 0x29c0, 1)
	for _, tc := range cases {
		if err := tc.write(s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := make([]byte, 12)
		if _, err := io.ReadFull(m, got); err != nil {
			t.Fatal(err)
		}
		want, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(tc.want), []byte(" "), nil)))
		if !bytes.Equal(got, want) {
			t.Errorf("%s record % x, want % x", tc.name, got, want)
		}
	}
}

func TestStatusNegativeAndLargeValues(t *testing.T) {
	child, m := statusPair(t)
	if err := NewStatus(child, -2, 0xfffffffe).Available(); err != nil {
		t.Fatal(err)
	}
	var rec [3]uint32
	if err := binary.Read(m, binary.NativeEndian, &rec); err != nil {
		t.Fatal(err)
	}
	if int32(rec[0]) != -2 || rec[1] != 0xfffffffe || rec[2] != 1 {
		t.Errorf("record %v", rec)
	}
}

func TestStatusMasterGone(t *testing.T) {
	child, m := statusPair(t)
	s := NewStatus(child, 1, 1)
	m.Close()
	if err := s.Available(); err == nil {
		t.Fatal("Available succeeded after master closed the status socket")
	}
}

// TestStatusWhileWatching writes records while WatchMaster reads the
// same *os.File, then checks that the watch ends only when master closes.
func TestStatusWhileWatching(t *testing.T) {
	child, m := statusPair(t)
	gone := WatchMaster(child)
	s := NewStatus(child, 42, 7)
	const n = 100
	errs := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := s.Taken(); err != nil {
				errs <- err
				return
			}
			if err := s.Available(); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	buf := make([]byte, 2*n*12)
	if _, err := io.ReadFull(m, buf); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2*n; i++ {
		rec := buf[i*12 : i*12+12]
		if binary.NativeEndian.Uint32(rec) != 42 || binary.NativeEndian.Uint32(rec[4:]) != 7 ||
			binary.NativeEndian.Uint32(rec[8:]) != uint32(i%2) {
			t.Fatalf("record %d: % x", i, rec)
		}
	}
	select {
	case <-gone:
		t.Fatal("WatchMaster reported master gone while the socket is open")
	default:
	}
	m.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchMaster did not notice EOF")
	}
}

func TestWatchMasterData(t *testing.T) {
	// master never writes; any readable event counts as "gone".
	child, m := statusPair(t)
	gone := WatchMaster(child)
	if _, err := m.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchMaster ignored data on the status socket")
	}
}

// TestStatusFullBuffer: when master reads late and the socket buffer
// fills, the non-blocking send gives way to a blocking write, and no
// record is lost or split; with the child end blocking (as master passes
// it) and non-blocking (served by Go's poller).
func TestStatusFullBuffer(t *testing.T) {
	for _, nonblock := range []bool{false, true} {
		t.Run(fmt.Sprintf("nonblocking=%v", nonblock), func(t *testing.T) {
			child, m := statusPairMode(t, nonblock)
			gone := WatchMaster(child)
			s := NewStatus(child, 42, 7)
			const n = 50000 // 600 kB: more than the socket buffer
			errs := make(chan error, 1)
			go func() {
				for i := 0; i < n; i++ {
					if err := s.write(int32(i)); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
			buf := make([]byte, n*statusSize)
			if _, err := io.ReadFull(m, buf); err != nil {
				t.Fatal(err)
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if got := binary.NativeEndian.Uint32(buf[i*statusSize+8:]); got != uint32(i) {
					t.Fatalf("record %d has avail %d", i, got)
				}
			}
			m.Close()
			select {
			case <-gone:
			case <-time.After(10 * time.Second):
				t.Fatal("WatchMaster did not notice EOF")
			}
		})
	}
}
