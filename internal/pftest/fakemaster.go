package pftest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FakeMaster runs a daemon the way master(8) does: fds 3 and 4 are the
// two ends of a pipe (flow control), fd 5 is one end of a stream
// socketpair whose other end FakeMaster keeps (status channel), fd 6 is
// the listening socket; stdin and stdout are /dev/null.
type FakeMaster struct {
	// Timeout bounds Status and Wait; StartFakeMaster sets it to 10 s.
	Timeout time.Duration

	t      testing.TB
	cmd    *exec.Cmd
	status *net.UnixConn // master's end of the status socketpair
	stderr SyncBuffer
	done   chan struct{} // closed when the process has been waited for
	err    error         // cmd.Wait result, valid after done
}

// StartFakeMaster starts bin with argv[1:] = args and environment env
// (nil = os.Environ()); "GENERATION=1" is added unless env sets
// GENERATION. listen becomes fd 6 (the caller keeps its listener and
// can close it when it likes). The process is killed and reaped on
// t.Cleanup if it is still running. Failures to start are fatal.
func StartFakeMaster(t testing.TB, bin string, args []string, env []string, listen *net.UnixListener) *FakeMaster {
	t.Helper()
	if env == nil {
		env = os.Environ()
	}
	if !hasVar(env, "GENERATION") {
		env = append(env[:len(env):len(env)], "GENERATION=1")
	}
	flowR, flowW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer flowR.Close()
	defer flowW.Close()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(pair[1]), "status-child")
	defer child.Close()
	masterEnd := os.NewFile(uintptr(pair[0]), "status-master")
	c, err := net.FileConn(masterEnd)
	masterEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	lf, err := listen.File()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer lf.Close()

	m := &FakeMaster{Timeout: 10 * time.Second, t: t, status: c.(*net.UnixConn), done: make(chan struct{})}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = env
	m.cmd.ExtraFiles = []*os.File{flowR, flowW, child, lf}
	m.cmd.Stderr = &m.stderr
	m.cmd.WaitDelay = 5 * time.Second // a drainer child may keep stderr open
	if err := m.cmd.Start(); err != nil {
		c.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.status.Close()
		select {
		case <-m.done:
		default:
			m.cmd.Process.Kill()
			<-m.done
		}
	})
	return m
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// Pid returns the daemon's process id.
func (m *FakeMaster) Pid() int { return m.cmd.Process.Pid }

// Status reads one 12-byte status record {int32 pid; uint32 gen; int32
// avail} (native byte order), waiting at most m.Timeout.
func (m *FakeMaster) Status() (pid int32, gen uint32, avail int32, err error) {
	var rec [12]byte
	if err := m.status.SetReadDeadline(time.Now().Add(m.Timeout)); err != nil {
		return 0, 0, 0, err
	}
	if _, err := io.ReadFull(m.status, rec[:]); err != nil {
		return 0, 0, 0, fmt.Errorf("read status record: %w", err)
	}
	return int32(binary.NativeEndian.Uint32(rec[0:])), binary.NativeEndian.Uint32(rec[4:]),
		int32(binary.NativeEndian.Uint32(rec[8:])), nil
}

// CloseStatus closes master's end of the status socket: the daemon sees
// EOF on fd 5, as after "postfix reload" or master's death.
func (m *FakeMaster) CloseStatus() error { return m.status.Close() }

// Wait waits at most m.Timeout for the daemon to exit and returns its
// exit status. A daemon killed by a signal gives -1 and an error.
func (m *FakeMaster) Wait() (exitCode int, err error) {
	select {
	case <-m.done:
	case <-time.After(m.Timeout):
		return -1, fmt.Errorf("process %d did not exit within %v", m.Pid(), m.Timeout)
	}
	var exitErr *exec.ExitError
	switch {
	case m.cmd.ProcessState == nil:
		return -1, m.err
	case m.err != nil && !errors.As(m.err, &exitErr):
		return m.cmd.ProcessState.ExitCode(), m.err
	}
	if ws, ok := m.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("process %d killed by signal %v", m.Pid(), ws.Signal())
	}
	return m.cmd.ProcessState.ExitCode(), nil
}

// Stderr returns what the daemon has written to stderr so far.
func (m *FakeMaster) Stderr() string { return m.stderr.String() }

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers:
// a child process's stderr that the test reads while it runs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartPiped starts cmd with pipes to its stdin and from its stdout,
// failing t when it cannot. The caller waits for it.
func StartPiped(t testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, stdout io.ReadCloser) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdin, stdout
}

// StartCombined starts cmd with a pipe to its stdin and one pipe that
// carries its stdout and stderr together, returned for reading, failing t
// when it cannot. The caller waits for it.
func StartCombined(t testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, out *os.File) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	return stdin, out
}
