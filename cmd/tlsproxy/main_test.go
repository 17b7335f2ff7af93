package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pftest"
)

// The test binary doubles as the daemon: with TLSPROXY_TEST_MAIN=1 it runs
// run() under the name "tlsproxy", as master(8) would start it.
func TestMain(m *testing.M) {
	if os.Getenv("TLSPROXY_TEST_MAIN") == "1" {
		args := append([]string{"tlsproxy"}, os.Args[1:]...)
		os.Exit(run(args, os.Environ(), os.Stderr))
	}
	os.Exit(m.Run())
}

// instance is a config directory and queue directory for one daemon.
type instance struct {
	dir, confDir, queueDir string
	pool                   *x509.CertPool
	listen                 *net.UnixListener
	sock                   string
}

func newInstance(t *testing.T, mainCF string) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{dir: dir, confDir: filepath.Join(dir, "etc"), queueDir: filepath.Join(dir, "spool")}
	ca := pftest.NewCA(t, "Test CA")
	cert, key := ca.Issue(t, "mx.example.test", []string{"mx.example.test"}, pftest.KeyECDSA256)
	pftest.WriteFiles(t, dir, map[string][]byte{"cert.pem": cert, "key.pem": key})
	in.pool = pftest.CertPool(t, ca.CertPEM)
	for _, d := range []string{in.confDir, filepath.Join(in.queueDir, "private")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cf := fmt.Sprintf("queue_directory = %s\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"+
		"smtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\nmaillog_file =\n%s",
		in.queueDir, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), mainCF)
	if err := os.WriteFile(filepath.Join(in.confDir, "main.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	in.sock = filepath.Join(in.queueDir, "private", "tlsproxy")
	in.listen = pftest.ListenUnix(t, in.sock)
	startFakeTLSMgr(t, filepath.Join(in.queueDir, "private", "tlsmgr"))
	return in
}

// startFakeTLSMgr answers tlsmgr(8) requests the way Postfix 3.7's does
// for a configuration without a session cache database: seed, policy
// (not cachable, timeout 3600) and tktkey (no key: tickets off).
func startFakeTLSMgr(t *testing.T, path string) {
	t.Helper()
	serveTLSMgr(t, path, true, func(req string, _ attr.List) attr.List {
		switch req {
		case "seed":
			return attr.List{attr.Int("status", 0), attr.Data("seed", make([]byte, 32))}
		case "policy":
			return attr.List{attr.Int("status", 0), attr.Int("cachable", 0), attr.Int("timeout", 3600)}
		}
		return attr.List{attr.Int("status", -1), attr.Data("keybuf", nil)}
	})
}

// serveTLSMgr listens on path until the test ends and answers each request
// list l on each connection with answer(l's "request", l); with announce,
// a connection starts with tlsmgr's protocol announcement.
func serveTLSMgr(t *testing.T, path string, announce bool, answer func(req string, l attr.List) attr.List) {
	t.Helper()
	ln := pftest.ListenUnix(t, path)
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if announce {
					c.Write(attr.AppendList(nil, attr.List{attr.Str("protocol", "tlsmgr_protocol")}))
				}
				rd := attr.NewReader(c)
				for {
					l, err := rd.ReadList()
					if err != nil {
						return
					}
					req, _ := l.Get("request")
					if _, err := c.Write(attr.AppendList(nil, answer(req, l))); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func (in *instance) start(t *testing.T, args ...string) *pftest.FakeMaster {
	t.Helper()
	env := append(os.Environ(), "TLSPROXY_TEST_MAIN=1", "MAIL_CONFIG="+in.confDir, "GENERATION=14")
	return pftest.StartFakeMaster(t, os.Args[0], args, env, in.listen)
}

// session runs one postscreen-like session against the daemon and
// returns what the remote side received after sending "EHLO".
func (in *instance) session(t *testing.T) { t.Helper(); in.sessionWith(t, nil) }

// sessionWith is session with the remote client's session cache (nil:
// none); it returns the remote client's view of the TLS connection.
func (in *instance) sessionWith(t *testing.T, cache tls.ClientSessionCache) tls.ConnectionState {
	t.Helper()
	c := pftest.Connect(t, in.sock)
	defer c.Close()
	rc, f := pftest.RemotePair(t)
	if st, err := pftest.RequestStatus(c, "[127.0.0.1]:4242", 1, 30, 30, "smtpd"); err != nil || st != 1 {
		t.Fatalf("status %d, %v", st, err)
	}
	if err := pftest.PassFD(c, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tc := tls.Client(rc, &tls.Config{RootCAs: in.pool, ServerName: "mx.example.test", ClientSessionCache: cache})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Write([]byte("EHLO x\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "EHLO x\r\n" {
		t.Fatalf("plaintext got %q %v", buf, err)
	}
	c.Close()
	if _, err := io.ReadAll(tc); err != nil {
		t.Fatalf("remote: %v", err)
	}
	return tc.ConnectionState()
}

func TestDaemonUnderFakeMaster(t *testing.T) {
	in := newInstance(t, "")
	m := in.start(t, "-z", "-t", "unix", "-V")
	in.session(t)
	// TAKEN then AVAIL, with our pid and the octal generation.
	for _, want := range []int32{0, 1} {
		pid, gen, avail, err := m.Status()
		if err != nil {
			t.Fatal(err)
		}
		if int(pid) != m.Pid() || gen != 12 || avail != want {
			t.Fatalf("status record pid=%d gen=%d avail=%d; want pid=%d gen=12 avail=%d", pid, gen, avail, m.Pid(), want)
		}
	}
	// postfix reload: EOF on fd 5 -> stop accepting, exit 0.
	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	code, err := m.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
	for _, want := range []string{
		"postfix/tlsproxy: CONNECT from [127.0.0.1]:4242",
		"postfix/tlsproxy: Anonymous TLS connection established from [127.0.0.1]:4242: TLSv1.3 with cipher ",
		"postfix/tlsproxy: DISCONNECT [127.0.0.1]:4242",
	} {
		if !strings.Contains(m.Stderr(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, m.Stderr())
		}
	}
}

func TestDaemonMaxUse(t *testing.T) {
	in := newInstance(t, "")
	m := in.start(t, "-z", "-t", "unix", "-m", "2")
	in.session(t)
	in.session(t)
	code, err := m.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
}

func TestDaemonMaxIdle(t *testing.T) {
	in := newInstance(t, "max_idle = 1s\n")
	m := in.start(t, "-z", "-t", "unix")
	code, err := m.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, m.Stderr())
	}
}

func TestDaemonFatalStartup(t *testing.T) {
	tests := []struct {
		name   string
		mainCF string
		args   []string
		want   string
	}{
		{"process limit", "", []string{"-t", "unix", "-V"}, "fatal: service tlsproxy requires a process limit of 0"},
		{"named service", "", []string{"-t", "unix", "-n", "tlsproxy2", "-V"}, "fatal: service tlsproxy2 requires a process limit of 0"},
		{"bad option", "", []string{"-z", "-t", "unix", "-x"}, "fatal: invalid option: x"},
		{"no transport", "", []string{"-z"}, "fatal: no transport type specified"},
		{"bad boolean", "tlsproxy_use_tls = maybe\n", []string{"-z", "-t", "unix", "-V"}, "fatal: bad boolean configuration: tlsproxy_use_tls = maybe"},
		{"bad level", "tlsproxy_tls_security_level = sometimes\n", []string{"-z", "-t", "unix", "-V"}, `fatal: Invalid TLS level "sometimes"`},
		{"watchdog minimum", "tlsproxy_watchdog_timeout = 5s\n", []string{"-z", "-t", "unix", "-V"}, "fatal: invalid tlsproxy_watchdog_timeout: 5 (min 10)"},
		{"bad main.cf", "this is not a parameter\n", []string{"-z", "-t", "unix", "-V"}, "missing '=' after attribute name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstance(t, tt.mainCF)
			m := in.start(t, tt.args...)
			code, err := m.Wait()
			if err != nil || code != 1 {
				t.Fatalf("exit %d, %v; want 1", code, err)
			}
			if !strings.Contains(m.Stderr(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, m.Stderr())
			}
		})
	}
}

// TestDaemonWithoutTLSMgr: as in Postfix, a tlsmgr that cannot give a
// seed disables TLS: requests get status 0, and the process says why.
func TestDaemonWithoutTLSMgr(t *testing.T) {
	in := newInstance(t, "tlsmgr_service_name = nosuchmgr\n")
	m := in.start(t, "-z", "-t", "unix", "-V")
	c := pftest.Connect(t, in.sock)
	defer c.Close()
	if st, err := pftest.RequestStatus(c, "[127.0.0.1]:4242", 1, 30, 30, "smtpd"); err != nil || st != 0 {
		t.Fatalf("status %d, %v; want 0", st, err)
	}
	c.Close()
	if err := m.CloseStatus(); err != nil {
		t.Fatal(err)
	}
	if code, err := m.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if want := "warning: no entropy for TLS key generation: disabling TLS support"; !strings.Contains(m.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, m.Stderr())
	}
}

func TestSetProcs(t *testing.T) {
	for _, tc := range []struct {
		env  string
		cpus int
		want int // the GOMAXPROCS set; 0: left alone
	}{
		{"", 1, 1},
		{"", 2, 1},
		{"", 3, 1},
		{"", 8, 4},
		{"", 64, 32},
		{"2", 8, 0},
	} {
		cur, set := tc.cpus, 0
		setProcs(tc.env, func(n int) int {
			prev := cur
			if n > 0 {
				cur, set = n, n
			}
			return prev
		})
		if set != tc.want {
			t.Errorf("GOMAXPROCS env %q, %d CPUs: set %d, want %d", tc.env, tc.cpus, set, tc.want)
		}
	}
}
