package interop

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"tlsproxy/internal/bench"
	"tlsproxy/internal/pfversion"
)

// The hand-over at max_use under Debian 12's and Debian 13's real
// master(8): a process that has served max_use sessions, none open, tells
// master it is busy, so that master starts the next process at the next
// connection, and serves that connection itself (max_use/10 of them at
// most) while the next process starts. Seen from outside: with max_use =
// 10 the old process serves the 11th session, and a 12th, opened while the
// 11th is still open, is served by a new process, which master started
// while the old one still lived. Without the hand-over the old process
// exits after the 10th session and one new process serves both. The
// sessions play postscreen on the tlsproxy socket directly
// (internal/bench), one after another.

func TestHandOverUnderMaster(t *testing.T) {
	for _, tc := range []struct {
		name, root string
		version    pfversion.Version // of the Postfix whose postscreen the test plays
	}{
		{"debian12", "", bench.DefaultVersion},
		{"debian13", deb13Root(), pfversion.MustParse("3.10.13")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root == "" {
				requireInterop(t)
			} else {
				requireDeb13(t)
			}
			handOver(t, tc.root, tc.version)
		})
	}
}

// handOver runs the test under the master(8) of tree root ("" = this
// machine's Postfix).
func handOver(t *testing.T, root string, version pfversion.Version) {
	const maxUse = 10
	in := onceFor(t, "ours/max_use=10 in "+root, func() (*instance, error) {
		in, _, err := startIn(root, ourBinary(t), "--tlsproxy-args", fmt.Sprintf("-o max_use=%d", maxUse))
		return in, err
	})
	d := &bench.Dialer{
		Opener:  bench.Postscreen{Socket: filepath.Join(in.dir, "spool", "private", "tlsproxy"), Version: version, Timeout: 10 * time.Second},
		TLS:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		Timeout: 10 * time.Second,
	}
	ln, err := bench.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := func() (*bench.Session, int) {
		t.Helper()
		s, err := d.Open(ln, nil)
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		return s, s.Conn.LocalAddr().(*net.TCPAddr).Port
	}
	offset := in.logSize(t)
	// Start with a fresh process (the instance may have served other
	// sessions): sessions until one is served by a process not seen
	// before, which is then that process's first.
	seen := map[string]bool{}
	var ports []int
	for range 3 * maxUse {
		s, port := open()
		s.Close()
		pid := pidOf(t, in, offset, port)
		if len(seen) > 0 && !seen[pid] {
			ports = append(ports, port)
			break
		}
		seen[pid] = true
	}
	if len(ports) == 0 {
		t.Fatalf("%d sessions, no new process among %v", 3*maxUse, seen)
	}
	for len(ports) < maxUse {
		s, port := open()
		s.Close()
		ports = append(ports, port)
	}
	// The 10th session's end reaches the old process before the 11th
	// arrives: its DISCONNECT is logged first (polled closely, as the
	// hand-over lasts 100 ms).
	waitLines(t, in, offset, regexp.MustCompile(fmt.Sprintf(`postfix/tlsproxy\[\d+\]: DISCONNECT \[127\.0\.0\.1\]:%d\n`, ports[maxUse-1])))
	s11, p11 := open()
	s12, p12 := open()
	s12.Close()
	s11.Close()
	seg := sessionLog(t, in, offset, p11)
	pids := map[int]string{}
	for _, m := range regexp.MustCompile(`postfix/tlsproxy\[(\d+)\]: CONNECT from \[127\.0\.0\.1\]:(\d+)`).FindAllStringSubmatch(seg, -1) {
		var port int
		fmt.Sscan(m[2], &port)
		pids[port] = m[1]
	}
	old := pids[ports[0]]
	for _, p := range ports {
		if pids[p] != old {
			t.Fatalf("the first %d sessions were served by processes %v, want one", maxUse, pids)
		}
	}
	if pids[p11] != old {
		t.Errorf("session 11 served by process %s, want the one at max_use (%s): no hand-over", pids[p11], old)
	}
	if pids[p12] == "" || pids[p12] == old {
		t.Errorf("session 12, opened while 11 was open, served by process %q, want a new one (old: %s)", pids[p12], old)
	}
}

// pidOf waits for the CONNECT line of the session from port and returns
// the process id that logged it.
func pidOf(t *testing.T, in *instance, offset int64, port int) string {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`postfix/tlsproxy\[(\d+)\]: CONNECT from \[127\.0\.0\.1\]:%d\n`, port))
	m := re.FindStringSubmatch(waitLines(t, in, offset, re))
	return m[1]
}

// waitLines polls the maillog from offset every few milliseconds, for up
// to 10 s, until re matches, and returns what it read.
func waitLines(t *testing.T, in *instance, offset int64, re *regexp.Regexp) string {
	t.Helper()
	for range 2000 {
		data, err := os.ReadFile(in.log)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) >= offset && re.Match(data[offset:]) {
			return string(data[offset:])
		}
		time.Sleep(5 * time.Millisecond) // postlogd writes asynchronously; bounded poll
	}
	t.Fatalf("maillog: no line matching %s", re)
	return ""
}
