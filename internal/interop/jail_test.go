package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Privilege and jail: the tlsproxy serving a session
// under the real master(8) with chroot=y runs as mail_owner with no
// capabilities, inside the queue directory, and cannot reach the private
// key it loaded before the jail: the key file is root's, mode 0600, the
// process is postfix, the path does not exist inside the jail, and no
// descriptor of the process refers to it. Checked for Debian's tlsproxy
// too, as the reference.

func TestJailAndPrivileges(t *testing.T) {
	requireInterop(t)
	uid, gid := postfixIDs(t)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			in := instanceFor(t, im, true)
			env, err := readEnv(filepath.Join(in.dir, "instance.env"))
			if err != nil {
				t.Fatal(err)
			}
			key := env["PF_KEY"]
			checkKeyFile(t, key)
			offset := in.logSize(t)
			s := goClientSession(t, in, func(port int) {
				pid := servingPID(t, in, offset, port)
				checkProcess(t, pid, uid, gid, in.queueDir)
				checkNoCapabilities(t, pid)
				checkKeyOutOfReach(t, pid, key, in.queueDir)
			})
			checkLog(t, sessionLog(t, in, offset, s.port), s, serverRoleRules)
		})
	}
}

// checkKeyFile: the key is a regular file of root's, readable by root only.
func checkKeyFile(t *testing.T, key string) {
	t.Helper()
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || st.Uid != 0 {
		t.Fatalf("%s: mode %v uid %d; the test needs 0600 root", key, fi.Mode().Perm(), st.Uid)
	}
}

// checkNoCapabilities reads the capability sets of pid: all empty.
func checkNoCapabilities(t *testing.T, pid string) {
	t.Helper()
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapAmb":
			if strings.Trim(strings.TrimSpace(v), "0") != "" {
				t.Errorf("tlsproxy pid %s: %s %s, want none", pid, k, strings.TrimSpace(v))
			}
		}
	}
}

// checkKeyOutOfReach: user postfix cannot read the key, the key's path
// does not exist inside the jail, and the process holds no descriptor
// of it.
func checkKeyOutOfReach(t *testing.T, pid, key, jail string) {
	t.Helper()
	out, err := exec.Command("runuser", "-u", "postfix", "--", "cat", key).CombinedOutput()
	if err == nil {
		t.Errorf("user postfix could read %s", key)
	} else if !strings.Contains(string(out), "Permission denied") {
		t.Errorf("runuser -u postfix -- cat %s: %v %s (want Permission denied)", key, err, out)
	}
	if _, err := os.Lstat(filepath.Join(jail, key)); !os.IsNotExist(err) {
		t.Errorf("%s exists inside the jail %s (%v)", key, jail, err)
	}
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name())
		if err == nil && (target == key || strings.HasSuffix(target, "/key.pem")) {
			t.Errorf("tlsproxy pid %s keeps the key open as fd %s (%s)", pid, fd.Name(), target)
		}
	}
}
