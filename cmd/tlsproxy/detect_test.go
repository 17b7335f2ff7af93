package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
// write(); not one session may fail.
func TestOldPostfixUnderLoad(t *testing.T) {
	const (
		sessions    = 800
		concurrency = 16
		release     = "3.3.0"
	)
	root := t.TempDir()
	stampedProgram(t, filepath.Join(root, "debian", "postconf"), "3.7.11")
	in := newInstance(t, "command_directory = "+filepath.Join(root, "debian")+"\n")
	master := filepath.Join(root, "pf33", "libexec", "master")
	stampedShell(t, master, release)

	env := append(os.Environ(), "TLSPROXY_TEST_MAIN=1", "MAIL_CONFIG="+in.confDir, "GENERATION=14")
	// The "master" runs the daemon as its child and waits for it.
	m := pftest.StartFakeMaster(t, master,
		[]string{"-c", `"$@"; exit $?`, "master", os.Args[0], "-z", "-t", "unix", "-v"}, env, in.listen)
	// Read the status records as master does: unread, they fill the
	// socket and the daemon's event loop stops.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			if _, _, _, err := m.Status(); err != nil {
				return
			}
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

	v := pfversion.MustParse(release)
	var next, failed atomic.Int64
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= sessions; i = next.Add(1) {
				if err := oldClientSession(in.sock, v, in.pool, int(i)); err != nil {
					failed.Add(1)
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	burners.Wait()
	close(errs)
	t.Logf("%d sessions of Postfix %s's postscreen, %d failed", sessions, release, failed.Load())
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}

	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	<-drained
	if code, err := m.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
	if want := "expecting Postfix " + release + " clients (learned from " + master + ")"; !strings.Contains(m.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%.2000s", want, m.Stderr())
	}
	// The lines are 3.3's too: the summary ends after the bit counts.
	established := 0
	for _, line := range strings.Split(m.Stderr(), "\n") {
		if strings.Contains(line, " TLS connection established from ") {
			established++
			if !strings.HasSuffix(line, " bits)") {
				t.Errorf("not a 3.3 summary line: %q", line)
				break
			}
		}
	}
	if established != sessions {
		t.Errorf("%d summary lines, want %d", established, sessions)
	}
}

// oldClientSession runs one session of postscreen v: hand-over, TLS
// handshake of the remote client, a line through, close.
func oldClientSession(sock string, v pfversion.Version, pool *x509.CertPool, i int) error {
	rc, rf, err := pftest.NewRemotePair()
	if err != nil {
		return err
	}
	defer rc.Close()
	c, st, err := pfclient.Open(sock, pfclient.ServerRole(v, fmt.Sprintf("[127.0.0.1]:%d", 10000+i)), rf)
	rf.Close()
	if err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	defer c.Close()
	if st != 1 {
		return fmt.Errorf("session %d: status %d", i, st)
	}
	deadline := time.Now().Add(30 * time.Second)
	c.SetDeadline(deadline)
	rc.SetDeadline(deadline)
	tc := tls.Client(rc, &tls.Config{RootCAs: pool, ServerName: "mx.example.test"})
	if _, err := tc.Write([]byte("EHLO x\r\n")); err != nil {
		return fmt.Errorf("session %d: TLS: %w", i, err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "EHLO x\r\n" {
		return fmt.Errorf("session %d: plaintext %q, %v", i, buf, err)
	}
	return nil
}
