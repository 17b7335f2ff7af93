package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Instance is a loopback Postfix instance started by scripts/pfinstance.sh
// whose tlsproxy service runs the binary under test.
type Instance struct {
	Dir    string
	Socket string // DIR/spool/private/tlsproxy
	// OnceSocket is the socket of a second tlsproxy service whose
	// processes serve one session each (max_use = 1), as every process
	// does at its start; "" unless InstanceSpec.Once.
	OnceSocket string
	// LongSocket is the socket of a third tlsproxy service whose
	// processes live long (max_use = 1,000,000, max_idle = 3600s), so that
	// process start-up is out of its figures; "" unless InstanceSpec.Long.
	LongSocket string
	ConfigDir  string // main.cf and master.cf
	Log        string // the instance's maillog
	MasterPID  int
	// SMTPLogLevel is main.cf's smtp_tls_loglevel, which smtp(8) would
	// send as the client-role init props' log_level.
	SMTPLogLevel string
	script       string
}

// InstanceSpec says how to start one instance.
type InstanceSpec struct {
	Script   string    // path of scripts/pfinstance.sh
	Dir      string    // instance directory (its parent must be searchable by postfix)
	TLSProxy string    // the binary master runs as tlsproxy
	Main     []string  // extra main.cf lines, "name = value"
	Cert     CertFiles // becomes DIR/tls/cert.pem and key.pem, i.e. smtpd_tls_cert_file/key_file
	Ports    [3]int    // postscreen, sink, submit (unused by the bench, but must be free)
	// Once adds the service tlsproxy-once (Instance.OnceSocket).
	Once bool
	// Long adds the service tlsproxy-long (Instance.LongSocket).
	Long bool
	// Root runs another Debian release's Postfix in this tree (chroot);
	// Dir must be inside it.
	Root string
	// Chroot runs every tlsproxy service chrooted to the queue
	// directory, as Debian's master.cf has it ("y" in the chroot column).
	Chroot bool
}

// onceService is the master.cf line of the one-session tlsproxy service.
// (%s: the chroot column).
const onceService = "tlsproxy-once unix - - %s - 0 tlsproxy -o max_use=1"

// longService is the master.cf line of the long-lived tlsproxy service.
const longService = "tlsproxy-long unix - - %s - 0 tlsproxy -o max_use=1000000 -o max_idle=3600s"

// StartInstance runs "pfinstance.sh start" and reads DIR/instance.env.
//
// The certificate is put where pfinstance.sh would create its own, so that
// main.cf names each parameter once: Postfix warns about every overridden
// entry each time a daemon starts, and bursts of log lines can wedge
// postlogd (see Restart).
func StartInstance(ctx context.Context, spec InstanceSpec) (*Instance, error) {
	if spec.Cert.Cert != "" {
		tlsDir := filepath.Join(spec.Dir, "tls")
		if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			return nil, err
		}
		for src, dst := range map[string]string{spec.Cert.Cert: "cert.pem", spec.Cert.Key: "key.pem"} {
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(tlsDir, dst), b, 0o600); err != nil {
				return nil, err
			}
		}
	}
	args := []string{"start", spec.Dir, "--tlsproxy", spec.TLSProxy,
		"--ports", fmt.Sprintf("%d,%d,%d", spec.Ports[0], spec.Ports[1], spec.Ports[2])}
	for _, m := range spec.Main {
		args = append(args, "--main", m)
	}
	jail := "n"
	if spec.Chroot {
		jail = "y"
		args = append(args, "--chroot", "y")
	}
	if spec.Once {
		args = append(args, "--master-line", fmt.Sprintf(onceService, jail))
	}
	if spec.Long {
		args = append(args, "--master-line", fmt.Sprintf(longService, jail))
	}
	if spec.Root != "" {
		args = append(args, "--root", spec.Root)
	}
	out, err := exec.CommandContext(ctx, spec.Script, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s start: %w\n%s", spec.Script, err, out)
	}
	b, err := os.ReadFile(filepath.Join(spec.Dir, "instance.env"))
	if err != nil {
		return nil, err
	}
	env, err := ParseEnv(b)
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(env["PF_MASTER_PID"])
	if err != nil || pid <= 1 {
		return nil, fmt.Errorf("instance.env: bad PF_MASTER_PID %q", env["PF_MASTER_PID"])
	}
	in := &Instance{
		Dir:       spec.Dir,
		Socket:    filepath.Join(env["PF_QUEUE_DIR"], "private", "tlsproxy"),
		ConfigDir: env["PF_CONFIG_DIR"],
		Log:       env["PF_LOG"],
		MasterPID: pid,
		script:    spec.Script,
	}
	if spec.Once {
		in.OnceSocket = filepath.Join(env["PF_QUEUE_DIR"], "private", "tlsproxy-once")
	}
	if spec.Long {
		in.LongSocket = filepath.Join(env["PF_QUEUE_DIR"], "private", "tlsproxy-long")
	}
	if in.SMTPLogLevel, err = in.Param(ctx, "smtp_tls_loglevel"); err != nil {
		in.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	return in, nil
}

// Restart ends the instance's tlsproxy processes (SIGTERM, by PID, then
// SIGKILL after 5 s) and waits until they are gone; master starts a fresh
// one for the next connection. "postfix reload" would do the same, but it
// makes every daemon log at once, and postlogd(8) can deadlock sending its
// own warnings to its own full socket (net.unix.max_dgram_qlen is 10).
func (in *Instance) Restart(ctx context.Context) error {
	u, err := Snapshot(in.MasterPID)
	if err != nil {
		return err
	}
	for pid := range u.Procs {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for i := range 200 { // polls other processes' exit: at most 10 s
		left := 0
		for pid := range u.Procs {
			if p, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				if st, err := ParseStat(p); err == nil && st.PPID == in.MasterPID && st.Comm == "tlsproxy" {
					left++
					if i == 100 {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}
		if left == 0 {
			return nil
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	return errors.New("tlsproxy processes still running 10 s after SIGKILL")
}

// Param returns the value of a main.cf parameter of the instance, as
// "postconf -h" expands it.
func (in *Instance) Param(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "postconf", "-c", in.ConfigDir, "-h", name).Output()
	if err != nil {
		return "", fmt.Errorf("postconf -h %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// LogTail returns the last n lines of the instance's maillog that contain
// substr, for error reports.
func (in *Instance) LogTail(substr string, n int) []string {
	b, err := os.ReadFile(in.Log)
	if err != nil {
		return []string{fmt.Sprintf("(maillog: %v)", err)}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out[max(0, len(out)-n):]
}

// LogSize is the maillog's current length, where LogPIDs starts.
func (in *Instance) LogSize() int64 {
	st, err := os.Stat(in.Log)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LogPIDs counts the tlsproxy processes that logged in the maillog past
// offset (a LogSize): every process that serves a session logs its
// CONNECT line, so this is how many processes served the sessions of a
// run, those that started and ended during it included.
func (in *Instance) LogPIDs(offset int64) int {
	f, err := os.Open(in.Log)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return 0
	}
	return len(tlsproxyPIDs(bufio.NewScanner(f)))
}

// tlsproxyPIDs collects the process ids of the "tlsproxy[PID]:" lines.
func tlsproxyPIDs(sc *bufio.Scanner) map[int]bool {
	pids := map[int]bool{}
	const tag = "tlsproxy["
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, tag)
		if i < 0 {
			continue
		}
		rest := line[i+len(tag):]
		j := strings.Index(rest, "]:")
		if j <= 0 {
			continue
		}
		if pid, err := strconv.Atoi(rest[:j]); err == nil && pid > 0 {
			pids[pid] = true
		}
	}
	return pids
}

// Stop runs "pfinstance.sh stop".
func (in *Instance) Stop(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, in.script, "stop", in.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s stop: %w\n%s", in.script, err, out)
	}
	return nil
}

// ParseEnv parses NAME=value lines as pfinstance.sh writes them; blank lines
// and # comments are skipped.
func ParseEnv(b []byte) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("instance.env line %d: not NAME=value", n)
		}
		env[name] = value
	}
	return env, sc.Err()
}

// FreePorts returns n loopback TCP ports at or above base that nothing
// listens on right now.
func FreePorts(base, n int) ([]int, error) {
	var out []int
	for p := base; p < 32768 && len(out) < n; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("fewer than %d free ports from %d", n, base)
	}
	return out, nil
}
