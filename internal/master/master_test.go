package master

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/pftest"
)

// helperEnv selects a helper role when the test binary re-executes
// itself (the pattern of Go's syscall TestPassFD).
const helperEnv = "MASTER_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "checkfds":
		os.Exit(helperCheckFDs())
	case "daemon":
		os.Exit(helperDaemon())
	default:
		os.Exit(99)
	}
}

// helperCheckFDs runs CheckFDs(1) as the very first thing and exits 0 if
// it succeeded and left FD_CLOEXEC set on 3..6, 1 if it failed.
func helperCheckFDs() int {
	if err := CheckFDs(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for fd := FlowReadFD; fd <= ListenFD; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			fmt.Fprintf(os.Stderr, "fd %d: flags %#x, %v\n", fd, flags, err)
			return 2
		}
	}
	return 0
}

// helperDaemon is a minimal event server: it serves one connection with
// TAKEN / "hello" / AVAIL, then waits for EOF on fd 5 and exits 0.
func helperDaemon() int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
		return code
	}
	o, err := ParseArgs(os.Args[1:])
	if err == nil {
		err = o.Check(false)
	}
	if err != nil {
		return fail(10, "args: %v", err)
	}
	if err := CheckFDs(o.Sockets); err != nil {
		return fail(11, "%v", err)
	}
	gen, err := Generation(os.Getenv("GENERATION"))
	if err != nil {
		return fail(12, "%v", err)
	}
	statusFile := os.NewFile(StatusFD, "master-status")
	status := NewStatus(statusFile, int32(os.Getpid()), gen)
	gone := WatchMaster(statusFile)
	ln, err := Listener(ListenFD)
	if err != nil {
		return fail(13, "%v", err)
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", ListenFD)); link != "/dev/null" {
		return fail(14, "fd %d is %q, %v; want /dev/null", ListenFD, link, err)
	}
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		return fail(15, "accept: %v", err)
	}
	if err := status.Taken(); err != nil {
		return fail(16, "%v", err)
	}
	c.Write([]byte("hello"))
	c.Close()
	if err := status.Available(); err != nil {
		return fail(17, "%v", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		return fail(18, "no EOF on the status socket")
	}
	if err := status.Available(); err == nil {
		return fail(19, "status write succeeded after master went away")
	}
	ln.Close()
	return 0
}

func TestCheckFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := os.NewFile(uintptr(fds[0]), "s")
	defer s.Close()
	unix.Close(fds[1])
	reg, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// A hole in the child's fds 3..6 gets filled by whatever the Go
	// runtime opens first, so "missing" shows up as a wrong type.
	cases := []struct {
		name     string
		extra    []*os.File
		wantCode int
		wantErr  string
	}{
		{"all present", []*os.File{r, w, s, s}, 0, ""},
		{"status fd missing", []*os.File{r, w}, 1, "file descriptor 5 from master: not a socket"},
		{"listen fd missing", []*os.File{r, w, s}, 1, "file descriptor 6 from master: not a socket"},
		{"flow fd not a pipe", []*os.File{r, reg, s, s}, 1, "file descriptor 4 from master: not a pipe"},
		{"status fd not a socket", []*os.File{r, w, r, s}, 1, "file descriptor 5 from master: not a socket"},
		{"nothing passed", nil, 1, "file descriptor 3 from master"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"=checkfds")
			cmd.ExtraFiles = tc.extra
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("helper exit %d (%v), stderr %q; want %d, %q", code, err, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
	if err := CheckFDs(0); err == nil {
		t.Error("CheckFDs(0) succeeded")
	}
	if err := CheckFDs(1 << 20); err == nil {
		t.Error("CheckFDs(1<<20) succeeded")
	}
}

// TestDaemonLifecycle runs helperDaemon under a fake master with the
// Debian argv and GENERATION=14 (octal, so gen 12).
func TestDaemonLifecycle(t *testing.T) {
	ln := pftest.ListenUnix(t, "")
	env := append(os.Environ(), helperEnv+"=daemon", "GENERATION=14")
	m := pftest.StartFakeMaster(t, os.Args[0], strings.Fields("-z -t unix -u -c -o tlsproxy_tls_loglevel=1"), env, ln)
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v; stderr %q", got, err, m.Stderr())
	}
	for _, want := range []int32{0, 1} {
		pid, gen, avail, err := m.Status()
		if err != nil || int(pid) != m.Pid() || gen != 12 || avail != want {
			t.Fatalf("status = pid %d gen %d avail %d, %v; want pid %d gen 12 avail %d; stderr %q",
				pid, gen, avail, err, m.Pid(), want, m.Stderr())
		}
	}
	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	if code, err := m.Wait(); code != 0 || err != nil {
		t.Fatalf("exit %d, %v; stderr %q", code, err, m.Stderr())
	}
}

func TestGeneration(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
		err  bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"1", 1, false},
		{"14", 12, false},
		{"777", 511, false},
		{"37777777777", 0xffffffff, false},
		{"40000000000", 0, true},
		{"8", 0, true},
		{"19", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"0o7", 0, true},
		{" 1", 0, true},
		{"1_0", 0, true},
		{"x", 0, true},
	}
	for _, tc := range cases {
		got, err := Generation(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Generation(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && err.Error() != "bad generation: "+tc.in {
			t.Errorf("Generation(%q) error text %q", tc.in, err)
		}
	}
}

// TestListener checks the hand-over of a listening socket and that the
// original descriptor number ends up on /dev/null.
func TestListener(t *testing.T) {
	orig, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	orig.SetUnlinkOnClose(false)
	f, err := orig.File() // a copy at some free fd number, as fd 6 would be
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // closes the /dev/null that Listener put there
	orig.Close()
	fd := int(f.Fd())

	ln, err := Listener(fd)
	if err != nil {
		t.Fatal(err)
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || link != "/dev/null" {
		t.Fatalf("fd %d is %q, %v; want /dev/null", fd, link, err)
	}
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ln.Addr().String()); err != nil {
		t.Errorf("socket file removed on Close: %v", err)
	}
	if _, err := net.Dial("unix", ln.Addr().String()); err == nil {
		t.Error("socket still accepts connections after Close")
	}
}

func TestListenerErrors(t *testing.T) {
	tcp := pftest.ListenTCP(t)
	defer tcp.Close()
	f, err := tcp.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Listener(int(f.Fd())); err == nil || !strings.Contains(err.Error(), "not a UNIX-domain socket (tcp)") {
		t.Errorf("Listener(tcp) error = %v", err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := Listener(int(r.Fd())); err == nil {
		t.Error("Listener(pipe) succeeded")
	}
	if _, err := Listener(-1); err == nil {
		t.Error("Listener(-1) succeeded")
	}
}

func TestIsTTY(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if IsTTY(int(r.Fd())) {
		t.Error("a pipe is a tty")
	}
}
