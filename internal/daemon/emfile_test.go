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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/pftest"
)

// Running out of descriptors: a daemon whose accept() fails with EMFILE
// logs Postfix's error, tells master it is busy, stops accepting and exits
// once its sessions have ended, so that master's next process serves the
// waiting clients (Postfix's process dies of too many errors for the same
// end). The limit is lowered in a helper process (this test binary run
// again), so no other test is affected; the test plays master: it holds
// the listening socket and passes it to each helper as fd 3.

// emfileEnv, when set, makes this binary the helper.
const emfileEnv = "TLSPROXY_TEST_EMFILE"

// emfileSlots is how many client connections the helper can hold open.
const emfileSlots = 3

func TestMain(m *testing.M) {
	if v := os.Getenv(emfileEnv); v != "" {
		slots, _ := strconv.Atoi(v)
		os.Exit(emfileHelper(slots))
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

// statusLog is the helper's master: each report is a line on stderr.
type statusLog struct{}

func (statusLog) Taken() error     { fmt.Fprintln(os.Stderr, "status: taken"); return nil }
func (statusLog) Available() error { fmt.Fprintln(os.Stderr, "status: available"); return nil }

// emfileHelper serves the listening socket of fd 3 with a descriptor
// limit that leaves room for slots clients. Each client gets "ok\n"
// and is held until it closes. EOF on stdin stands for master going away:
// drain and exit. It prints READY when serving and, at the end, the
// descriptor and goroutine counts before and after.
func emfileHelper(slots int) int {
	lf := os.NewFile(3, "listener")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln := l.(*net.UnixListener)
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(gone) }()
	d := &Daemon{Listener: ln, MasterGone: gone, Log: &stderrLog{}, Status: statusLog{},
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
	limit := unix.Rlimit{Cur: uint64(limitLeaving(slots)), Max: old.Max}
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

// emfileProc is one helper process.
type emfileProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *pftest.SyncBuffer
}

func startEMFILEHelper(t *testing.T, listener *os.File, slots int) *emfileProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emfileEnv+"="+strconv.Itoa(slots))
	cmd.ExtraFiles = []*os.File{listener}
	stderr := &pftest.SyncBuffer{}
	cmd.Stderr = stderr
	stdin, stdout := pftest.StartPiped(t, cmd)
	p := &emfileProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), stderr: stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if !p.out.Scan() || !strings.HasPrefix(p.out.Text(), "READY") {
		t.Fatalf("helper did not start: %q\n%s", p.out.Text(), p.stderr)
	}
	return p
}

// end waits for the helper's exit and checks its end line.
func (p *emfileProc) end(t *testing.T) {
	t.Helper()
	var end string
	if p.out.Scan() {
		end = p.out.Text()
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, p.stderr)
	}
	var reason, runErr string
	var fds, baseFDs, g, baseG int
	if _, err := fmt.Sscanf(end, "END reason=%s err=%s fds=%d/%d goroutines=%d/%d", &reason, &runErr, &fds, &baseFDs, &g, &baseG); err != nil {
		t.Fatalf("helper end line %q: %v\n%s", end, err, p.stderr)
	}
	if reason != EndDrained || runErr != "<nil>" {
		t.Errorf("Run ended with %q, %s; want %q", reason, runErr, EndDrained)
	}
	// The listener is closed by the drain: one descriptor fewer.
	if fds > baseFDs-1 || g > baseG {
		t.Errorf("helper leaked: descriptors %d -> %d (listener closed), goroutines %d -> %d", baseFDs, fds, baseG, g)
	}
}

func TestAcceptEMFILE(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	sock := filepath.Join(t.TempDir(), "tlsproxy")
	ln := pftest.ListenUnix(t, sock)
	listener, err := ln.File() // master's copy, passed to each process
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	first := startEMFILEHelper(t, listener, emfileSlots)

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
			t.Fatalf("client %d: %v\n%s", i, err, first.stderr)
		}
	}
	// The next accept fails with EMFILE: wait (bounded) for the drain.
	const drainLine = "warning: out of file descriptors: no longer accepting connections, exiting after the 3 open session(s)"
	for i := 0; !strings.Contains(first.stderr.String(), drainLine); i++ {
		if i == 1000 {
			t.Fatalf("no drain after EMFILE within 10 s:\n%s", first.stderr)
		}
		time.Sleep(10 * time.Millisecond) // polling the helper's output, bounded
	}
	log := first.stderr.String()
	if n := strings.Count(log, "error: accept connection: Too many open files"); n != 1 {
		t.Errorf("%d EMFILE errors, want Postfix's one:\n%s", n, log)
	}
	if !strings.HasSuffix(strings.TrimSpace(log[:strings.Index(log, drainLine)+len(drainLine)]+firstStatusAfter(log, drainLine)), "status: taken") {
		t.Errorf("master was not told the process is busy:\n%s", log)
	}
	// Its sessions end: the process exits, though master is still there.
	for _, c := range conns[:emfileSlots] {
		c.Close()
	}
	first.end(t)

	// master's next process serves the clients that waited. (One slot
	// more: a process that holds as many descriptors as its limit allows
	// gets EMFILE from its next accept, client or not.)
	second := startEMFILEHelper(t, listener, emfileSlots+1)
	for i, c := range conns[emfileSlots:] {
		if err := readOK(c); err != nil {
			t.Fatalf("client %d, for the next process: %v\n%s", emfileSlots+i, err, second.stderr)
		}
	}
	for _, c := range conns[emfileSlots:] {
		c.Close()
	}
	second.stdin.Close() // master goes away: drain and exit
	second.end(t)
	if strings.Contains(second.stderr.String(), "accept connection") {
		t.Errorf("the next process ran out of descriptors:\n%s", second.stderr)
	}
}

// firstStatusAfter returns the first status line after marker in log.
func firstStatusAfter(log, marker string) string {
	rest := log[strings.Index(log, marker)+len(marker):]
	for _, l := range strings.Split(rest, "\n") {
		if strings.HasPrefix(l, "status: ") {
			return "\n" + l
		}
	}
	return ""
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
