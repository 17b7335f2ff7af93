package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
)

// stampedShell copies /bin/sh to path and appends a Postfix version
// stamp of release v: a program that runs like a shell and that the
// release detection reads as a master(8) of release v.
func stampedShell(t *testing.T, path, v string) {
	t.Helper()
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	sh = append(sh, 0)
	sh = append(sh, "mail_version="...)
	sh = append(sh, v...)
	sh = append(sh, 0)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sh, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestOldPostfixUnderLoad is the case of a Postfix 3.3 whose main.cf
// names another Postfix's postconf (3.7.11, as Debian's is on the same
// host): the daemon, started by a 3.3 "master", must learn 3.3 and never
// announce to its postscreen, whatever the timing. Many sessions of the
// 3.3 postscreen emulator run at once while every CPU of this process is
// kept busy, so that clients are preempted between connect() and
// write(); not one session may fail, whatever the kind.
func TestOldPostfixUnderLoad(t *testing.T) {
	const release = "3.3.0"
	r := runOldPostfix(t, release, release, 800, 16)
	r.requireNoFailures(t)
	if want := "expecting Postfix " + release + " clients (learned from " + r.master + ")"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%.2000s", want, r.stderr)
	}
	// The lines are 3.3's too: the summary ends after the bit counts.
	established := 0
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.Contains(line, " TLS connection established from ") {
			established++
			if !strings.HasSuffix(line, " bits)") {
				t.Errorf("not a 3.3 summary line: %q", line)
				break
			}
		}
	}
	if established != r.sessions {
		t.Errorf("%d summary lines, want %d", established, r.sessions)
	}
}

// TestOldPostfixWrongRelease is the control of TestOldPostfixUnderLoad:
// the same 3.3 clients and harness, but a "master" stamped 3.7.11. The
// daemon then announces to every client whose request is not already
// waiting when it accepts, so sessions must fail the way a 3.3
// postscreen fails on it (the announcement read as the status: the kind
// TestOldPostfixUnderLoad counts), and only that way. How many depends on
// timing (about a third of them on a quiet machine).
func TestOldPostfixWrongRelease(t *testing.T) {
	r := runOldPostfix(t, "3.7.11", "3.3.0", 200, 16)
	if r.announced == 0 || r.timedOut+r.other+r.notRun != 0 {
		t.Errorf("%d of %d sessions read the announcement as the status, %d timed out, %d failed otherwise; want some announced, no other failures: %v",
			r.announced, r.sessions, r.timedOut, r.other, r.errs)
	}
}

// sessionLimit bounds each read of a session (the status, the plaintext
// echo) and the TLS handshake. postscreen gives tlsproxy 10 s; the test
// allows 60 s, because on a machine that other jobs load too a handshake
// waits for the CPU, and a slow answer proves nothing about detection: a
// daemon that announces sends the announcement at once, and the 3.3
// client reads it as its status without waiting (counted apart).
const sessionLimit = 60 * time.Second

// oldPostfixRun is what runOldPostfix saw.
type oldPostfixRun struct {
	sessions                   int
	master                     string  // the stamped "master" program
	announced, timedOut, other int     // failed sessions, by kind
	notRun                     int     // sessions not started after a timeout
	errs                       []error // the first few
	records                    int     // status records master read
	stderr                     string
	elapsed                    time.Duration
	slowest                    time.Duration // longest successful session
}

// runOldPostfix runs sessions sessions of Postfix client's postscreen
// emulator, concurrency at a time, through one daemon started by a
// "master" stamped masterRelease, with 2 × GOMAXPROCS goroutines of this
// process burning CPU meanwhile. max_use is set above the session count,
// so that the one daemon serves every session and is still running when
// they end: with Postfix's 100, it exits once 100 sessions are done and
// none is open (load makes such a moment likely), and this master, unlike
// Postfix's, starts no new one; the sessions after that timed out.
func runOldPostfix(t *testing.T, masterRelease, client string, sessions, concurrency int) *oldPostfixRun {
	t.Helper()
	root := t.TempDir()
	stampedProgram(t, filepath.Join(root, "debian", "postconf"), "3.7.11")
	in := newInstance(t, "command_directory = "+filepath.Join(root, "debian")+"\n")
	r := &oldPostfixRun{sessions: sessions, master: filepath.Join(root, "pf", "libexec", "master")}
	stampedShell(t, r.master, masterRelease)

	env := append(os.Environ(), "TLSPROXY_TEST_MAIN=1", "MAIL_CONFIG="+in.confDir, "GENERATION=14")
	// The "master" runs the daemon as its child and waits for it.
	m := pftest.StartFakeMaster(t, r.master,
		[]string{"-c", `"$@"; exit $?`, "master", os.Args[0], "-z", "-t", "unix", "-v", "-m", strconv.Itoa(sessions + 1)}, env, in.listen)
	// Read the status records as master does: unread, they fill the
	// socket and the daemon's event loop stops. The daemon writes one
	// when it takes a connection and one when it is available again, so
	// a quiet spell is no reason to stop reading: only EOF is.
	m.Timeout = sessionLimit
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			_, _, _, err := m.Status()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				return
			}
			r.records++
		}
	}()

	stop := make(chan struct{})
	var burners sync.WaitGroup
	for range runtime.GOMAXPROCS(0) * 2 {
		burners.Add(1)
		go func() {
			defer burners.Done()
			for n := 0; ; n++ {
				if n%1024 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		}()
	}

	v := pfversion.MustParse(client)
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	began := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(sessions); i = next.Add(1) {
				mu.Lock()
				if r.timedOut > 0 {
					// A daemon that stops answering would cost
					// sessionLimit per session left: stop here.
					r.notRun++
					mu.Unlock()
					continue
				}
				mu.Unlock()
				t0 := time.Now()
				err := oldClientSession(in.sock, v, in.pool, int(i))
				d := time.Since(t0)
				mu.Lock()
				r.count(err, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(began)
	close(stop)
	burners.Wait()
	select {
	case <-drained:
		t.Errorf("the daemon closed its status socket before the sessions ended (it exited); stderr:\n%.2000s", m.Stderr())
	default:
	}
	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	<-drained
	if code, err := m.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
	r.stderr = m.Stderr()
	t.Logf("%d sessions of Postfix %s's postscreen, master stamped %s, %d at a time, %v: %d read an announcement as the status, %d timed out (limit %v), %d failed otherwise, %d not run after a timeout; slowest success %v; %d status records",
		sessions, client, masterRelease, concurrency, r.elapsed.Round(time.Millisecond), r.announced, r.timedOut, sessionLimit, r.other, r.notRun, r.slowest.Round(time.Millisecond), r.records)
	return r
}

// count files one session's outcome: a failure by kind, or its time.
func (r *oldPostfixRun) count(err error, d time.Duration) {
	var se *attr.ScanError
	switch {
	case err == nil:
		r.slowest = max(r.slowest, d)
		return
	case errors.As(err, &se) && se.Kind == attr.Unexpected && se.Name == "protocol":
		r.announced++
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.timedOut++
	default:
		r.other++
	}
	if len(r.errs) < 5 {
		r.errs = append(r.errs, err)
	}
}

// requireNoFailures fails t unless every session succeeded, naming the
// kinds and the first errors.
func (r *oldPostfixRun) requireNoFailures(t *testing.T) {
	t.Helper()
	if n := r.announced + r.timedOut + r.other + r.notRun; n != 0 {
		t.Errorf("%d of %d sessions failed: %d read an announcement as the status (the detection failed), %d timed out, %d otherwise, %d not run after a timeout; first errors:",
			n, r.sessions, r.announced, r.timedOut, r.other, r.notRun)
		for _, err := range r.errs {
			t.Error(err)
		}
	}
	if want := 2 * r.sessions; r.records != want {
		t.Errorf("%d status records, want %d (taken and available per session)", r.records, want)
	}
}

// oldClientSession runs one session of postscreen v: hand-over, TLS
// handshake of the remote client, a line through, close. Each read
// waits at most sessionLimit.
func oldClientSession(sock string, v pfversion.Version, pool *x509.CertPool, i int) error {
	rc, rf, err := pftest.NewRemotePair()
	if err != nil {
		return err
	}
	defer rc.Close()
	defer rf.Close()
	c, err := pfclient.Dial(sock, v)
	if err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	defer c.Close()
	c.Timeout = sessionLimit
	if err := c.Send(pfclient.ServerRole(v, fmt.Sprintf("[127.0.0.1]:%d", 10000+i))); err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	st, err := c.Status()
	if err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	if st != 1 {
		return fmt.Errorf("session %d: status %d", i, st)
	}
	if err := c.PassFD(rf); err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	rf.Close()
	deadline := time.Now().Add(sessionLimit)
	c.SetDeadline(deadline)
	rc.SetDeadline(deadline)
	tc := tls.Client(rc, &tls.Config{RootCAs: pool, ServerName: "mx.example.test"})
	if _, err := tc.Write([]byte("EHLO x\r\n")); err != nil {
		return fmt.Errorf("session %d: TLS: %w", i, err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "EHLO x\r\n" {
		return fmt.Errorf("session %d: plaintext %q, %w", i, buf, err)
	}
	return nil
}
