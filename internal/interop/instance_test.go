package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	debianTLSProxy = "/usr/lib/postfix/sbin/tlsproxy"
	requiredEnv    = "TLSPROXY_INTEROP_REQUIRED"
)

// impl is one tlsproxy binary under test.
type impl struct {
	name   string
	binary func(t *testing.T) string
}

// impls lists Debian's tlsproxy first: it is the reference every
// expectation is checked against in the same test run.
var impls = []impl{
	{"debian", func(*testing.T) string { return debianTLSProxy }},
	{"ours", ourBinary},
}

// instance is a running Postfix started by scripts/pfinstance.sh; the
// fields come from its DIR/instance.env.
type instance struct {
	dir, log, cert, queueDir string
	postscreenPort           int
	sinkPort, submitPort     int // from instance.env
	port6                    int // a test's own [::1] port, if any
	chroot                   bool
}

var (
	mu        sync.Mutex
	started   = map[string]*startOnce{} // by impl name and chroot column
	build     startOnce                 // our binary, built once
	buildPath string
)

type startOnce struct {
	once sync.Once
	in   *instance
	err  error
}

// TestMain stops every instance the tests started. Instance directories
// are kept for inspection when a test failed.
func TestMain(m *testing.M) {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	for key, s := range started {
		if s.in == nil {
			continue
		}
		if out, err := runScript(context.Background(), "stop", s.in.dir); err != nil {
			fmt.Fprintf(os.Stderr, "interop: stopping %s (%s): %v\n%s", key, s.in.dir, err, out)
			code = 1
		} else if code == 0 {
			os.RemoveAll(s.in.dir)
		} else {
			fmt.Fprintf(os.Stderr, "interop: kept %s instance in %s (log: %s)\n", key, s.in.dir, s.in.log)
		}
	}
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// requireInterop skips the test when this machine cannot run Postfix
// instances, or fails it when TLSPROXY_INTEROP_REQUIRED=1.
func requireInterop(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "not running as root (Postfix's master must start as root)")
	}
	for _, f := range []string{"/usr/sbin/postfix", "/usr/lib/postfix/sbin/master", debianTLSProxy} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f+" missing (Debian package postfix)")
		}
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		missing = append(missing, "openssl not in PATH")
	}
	if len(missing) == 0 && !testing.Short() {
		return
	}
	reason := strings.Join(missing, "; ")
	if testing.Short() && reason == "" {
		reason = "-short"
	}
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("interop tests required (%s=1) but cannot run: %s; run scripts/install-deps.sh as root", requiredEnv, reason)
	}
	t.Skipf("interop tests need root, postfix and openssl: %s (run scripts/install-deps.sh; %s=1 makes this fatal)", reason, requiredEnv)
}

// moduleRoot is the directory holding go.mod, from `go env GOMOD`.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// ourBinary returns $TLSPROXY_BIN, or builds tlsproxy/cmd/tlsproxy once.
func ourBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TLSPROXY_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("TLSPROXY_BIN: %v", err)
		}
		return abs
	}
	root := moduleRoot(t)
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "tlsproxy-bin-")
		if err != nil {
			build.err = err
			return
		}
		mu.Lock()
		buildPath = filepath.Join(dir, "tlsproxy")
		mu.Unlock()
		_, build.err = goBuild(root, dir, "tlsproxy")
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return buildPath
}

// goBuild builds tlsproxy/cmd/name of the module at root into dir and
// returns the program's path.
func goBuild(root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command(goTool(), "build", "-o", bin, "tlsproxy/cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build tlsproxy/cmd/%s: %v\n%s", name, err, out)
	}
	return bin, nil
}

// runScript runs scripts/pfinstance.sh with args and returns its output.
func runScript(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	script := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "scripts", "pfinstance.sh")
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	// Postfix daemons must not inherit our output pipe; if one does
	// anyway, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// instanceFor returns the running instance for im with the given chroot
// column, starting it on first use. Instances are shared by all tests.
func instanceFor(t *testing.T, im impl, chroot bool) *instance {
	t.Helper()
	bin := im.binary(t)
	key := fmt.Sprintf("%s/chroot=%v", im.name, chroot)
	return onceFor(t, key, func() (*instance, error) { return startInstance(im.root(), bin, chroot) })
}

// onceFor returns the instance registered under key, starting it with
// start on first use; TestMain stops every registered instance.
func onceFor(t *testing.T, key string, start func() (*instance, error)) *instance {
	t.Helper()
	mu.Lock()
	s := started[key]
	if s == nil {
		s = &startOnce{}
		started[key] = s
	}
	mu.Unlock()
	s.once.Do(func() { s.in, s.err = start() })
	if s.err != nil {
		t.Fatalf("starting Postfix instance %s: %v", key, s.err)
	}
	return s.in
}

func startInstance(root, bin string, chroot bool) (*instance, error) {
	column := "n"
	if chroot {
		column = "y"
	}
	in, _, err := startIn(root, bin, "--chroot", column)
	return in, err
}

// startWith starts an instance of tlsproxy bin in a new directory on three
// new ports (postscreen, sink, submit: returned too), with more
// pfinstance.sh options.
func startWith(bin string, more ...string) (*instance, []int, error) {
	return startIn("", bin, more...)
}

// startIn is startWith for the Postfix of the Debian tree root ("" = this
// machine's).
func startIn(root, bin string, more ...string) (*instance, []int, error) {
	dir, err := newInstanceDirIn(root)
	if err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, nil, err
	}
	in := &instance{dir: dir}
	return in, ports, in.start(bin, ports, append(rootArgs(root), more...)...)
}

// newInstanceDir makes an instance directory under /tmp: the postfix user
// must be able to reach it, which t.TempDir's root-only parent forbids.
func newInstanceDir() (string, error) {
	return os.MkdirTemp("/tmp", "tlsproxy-interop-")
}

// start runs "pfinstance.sh start" for in.dir with tlsproxy bin, the
// postscreen, sink and submit ports, and more options, then fills in from
// DIR/instance.env. On failure the directory is registered anyway, so
// that TestMain stops whatever did start.
func (in *instance) start(bin string, ports []int, more ...string) error {
	in.log = filepath.Join(in.dir, "log", "maillog")
	args := append([]string{"start", in.dir, "--tlsproxy", bin,
		"--ports", fmt.Sprintf("%d,%d,%d", ports[0], ports[1], ports[2])}, more...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := runScript(ctx, args...)
	var env map[string]string
	if err != nil {
		err = fmt.Errorf("pfinstance.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	} else {
		env, err = readEnv(filepath.Join(in.dir, "instance.env"))
	}
	if err != nil {
		mu.Lock()
		started["failed:"+in.dir] = &startOnce{in: in}
		mu.Unlock()
		return err
	}
	in.log, in.cert, in.queueDir = env["PF_LOG"], env["PF_CERT"], env["PF_QUEUE_DIR"]
	in.chroot = env["PF_CHROOT"] == "y"
	in.sinkPort, _ = strconv.Atoi(env["PF_SINK_PORT"])
	in.submitPort, _ = strconv.Atoi(env["PF_SUBMIT_PORT"])
	in.postscreenPort, err = strconv.Atoi(env["PF_POSTSCREEN_PORT"])
	return err
}

// readEnv parses NAME=value lines; "#" starts a comment line.
func readEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[name] = value
		}
	}
	return env, sc.Err()
}

// freePorts finds n free loopback TCP ports. Ports are never handed out
// twice in one test process, and they come from below the kernel's
// ephemeral range (32768+ on Linux), so that two instances started at
// the same time, or a client's source port, cannot take a port between
// the check and Postfix's bind.
func freePorts(n int) ([]int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	if nextPort == 0 {
		nextPort = 20000 + os.Getpid()%1000*10
	}
	var ports []int
	for len(ports) < n {
		if nextPort >= 32000 {
			nextPort = 20000
		}
		p := nextPort
		nextPort++
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use
		}
		l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

var (
	portMu   sync.Mutex
	nextPort int
)

func (in *instance) addr() string { return fmt.Sprintf("127.0.0.1:%d", in.postscreenPort) }

// logSize is the current length of the maillog: the start of a session's
// log segment.
func (in *instance) logSize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(in.log)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitLog polls the maillog from offset until re matches, for up to 15 s,
// and returns the segment read. postlogd writes asynchronously, so a
// line logged before the client saw the server's reply may still be late.
func (in *instance) waitLog(t *testing.T, offset int64, re *regexp.Regexp) string {
	t.Helper()
	var seg string
	for range 300 {
		data, err := os.ReadFile(in.log)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) >= offset {
			seg = string(data[offset:])
		}
		if re.MatchString(seg) {
			return seg
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line matching %q within 15s in %s; log since the session began:\n%s", re, in.log, seg)
	return ""
}
