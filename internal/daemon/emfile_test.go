package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Running out of descriptors: a daemon whose accept()
// fails with EMFILE must log it, back off, and serve the waiting clients
// once descriptors are free again. The limit is lowered in a helper
// process (this test binary run again), so no other test is affected.

// emfileEnv names the socket the helper serves on.
const emfileEnv = "TLSPROXY_TEST_EMFILE_SOCKET"

// emfileSlots is how many client connections the helper can hold open.
const emfileSlots = 3

func TestMain(m *testing.M) {
	if sock := os.Getenv(emfileEnv); sock != "" {
		os.Exit(emfileHelper(sock))
	}
	os.Exit(m.Run())
}

// stderrLog writes the daemon's records to stderr, one per line.
type stderrLog struct{ mu sync.Mutex }

func (l *stderrLog) out(prefix, f string, a []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(os.Stderr, "%s%s\n", prefix, fmt.Sprintf(f, a...))
}
func (l *stderrLog) Infof(f string, a ...any)  { l.out("", f, a) }
func (l *stderrLog) Warnf(f string, a ...any)  { l.out("warning: ", f, a) }
func (l *stderrLog) Errorf(f string, a ...any) { l.out("error: ", f, a) }
func (l *stderrLog) Fatalf(f string, a ...any) { l.out("fatal: ", f, a) }

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

// limitLeaving returns the lowest descriptor limit below which exactly
// free descriptor numbers are unused.
func limitLeaving(free int) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	open := make(map[int]bool, len(ents))
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscan(e.Name(), &n); err == nil {
			open[n] = true
		}
	}
	// The directory's own descriptor is closed again by now.
	n := 0
	for fd := 0; fd < 1<<20; fd++ {
		if open[fd] && !isOpen(fd) {
			open[fd] = false
		}
		if !open[fd] {
			if n++; n > free {
				return fd
			}
		}
	}
	return -1
}

// isOpen tells whether descriptor fd is open.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// emfileHelper serves sock with a descriptor limit that leaves room for
// emfileSlots clients. Each client gets "ok\n" and is held until it
// closes. EOF on stdin stands for master going away: drain and exit. It
// prints READY when serving and, at the end, the descriptor and
// goroutine counts before and after.
func emfileHelper(sock string) int {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(gone) }()
	d := &Daemon{Listener: ln, MasterGone: gone, Log: &stderrLog{},
		Handle: func(ctx context.Context, c *os.File, done func()) {
			defer done()
			defer c.Close()
			if _, err := c.Write([]byte("ok\n")); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
		}}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	base, goroutines := openFDs(), runtime.NumGoroutine()
	// The limit caps descriptor numbers, not their count, and a process
	// may inherit descriptors with high numbers: leave exactly
	// emfileSlots free numbers below it. (Run duplicates the listener,
	// taking one, then closes the listener, whose low number is free
	// again.)
	limit := unix.Rlimit{Cur: uint64(limitLeaving(emfileSlots)), Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("READY limit=%d\n", limit.Cur)
	reason, err := d.Run(context.Background())
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Goroutines of ended sessions may take a moment to be gone.
	for i := 0; i < 500 && runtime.NumGoroutine() > goroutines; i++ {
		time.Sleep(10 * time.Millisecond) // bounded polling
	}
	fmt.Printf("END reason=%s err=%v fds=%d/%d goroutines=%d/%d\n", reason, err, openFDs(), base,
		runtime.NumGoroutine(), goroutines)
	return 0
}

// lockedBuffer collects the helper's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAcceptEMFILE(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	sock := filepath.Join(t.TempDir(), "tlsproxy")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emfileEnv+"="+sock)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || !strings.HasPrefix(out.Text(), "READY") {
		t.Fatalf("helper did not start: %q\n%s", out.Text(), stderr)
	}

	// Twice as many clients as the helper has descriptors for.
	var conns []net.Conn
	for range 2 * emfileSlots {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		conns = append(conns, c)
	}
	for i, c := range conns[:emfileSlots] {
		if err := readOK(c); err != nil {
			t.Fatalf("client %d: %v\n%s", i, err, stderr)
		}
	}
	// The next accept fails with EMFILE: wait (bounded) for the warning.
	for i := 0; !strings.Contains(stderr.String(), "too many open files"); i++ {
		if i == 1000 {
			t.Fatalf("no EMFILE warning within 10 s:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond) // polling the helper's output, bounded
	}
	// Free the descriptors: the waiting clients are served.
	for _, c := range conns[:emfileSlots] {
		c.Close()
	}
	for i, c := range conns[emfileSlots:] {
		if err := readOK(c); err != nil {
			t.Fatalf("client %d after the descriptors were freed: %v\n%s", emfileSlots+i, err, stderr)
		}
	}
	for _, c := range conns[emfileSlots:] {
		c.Close()
	}
	stdin.Close() // master goes away: drain and exit
	var end string
	if out.Scan() {
		end = out.Text()
	}
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr)
	}
	var reason, runErr string
	var fds, baseFDs, g, baseG int
	if _, err := fmt.Sscanf(end, "END reason=%s err=%s fds=%d/%d goroutines=%d/%d", &reason, &runErr, &fds, &baseFDs, &g, &baseG); err != nil {
		t.Fatalf("helper end line %q: %v", end, err)
	}
	if reason != EndDrained || runErr != "<nil>" {
		t.Errorf("Run ended with %q, %s; want %q", reason, runErr, EndDrained)
	}
	// The listener is closed by the drain: one descriptor fewer.
	if fds > baseFDs-1 || g > baseG {
		t.Errorf("helper leaked: descriptors %d -> %d (listener closed), goroutines %d -> %d", baseFDs, fds, baseG, g)
	}
	t.Logf("helper: %s; %d EMFILE warnings", end, strings.Count(stderr.String(), "too many open files"))
}

func readOK(c net.Conn) error {
	b := make([]byte, 3)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "ok\n" {
		return fmt.Errorf("got %q", b)
	}
	return nil
}
