package jail

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// helperReport is what the helper process prints after Enter.
type helperReport struct {
	Err     string
	UID     int
	GID     int
	Groups  []int
	Root    string
	RootDev uint64 // device and inode of "/" as seen inside
	RootIno uint64
	Cwd     string
	Roots   int // system CA certificates crypto/x509 finds after Enter (-1: an error)
}

// TestHelperProcess is not a real test: the jail tests re-run the test
// binary with GO_WANT_HELPER_PROCESS=1 so that the privilege drop happens
// in a child. The child prints one JSON report and then waits for its
// stdin to close, so that the parent can inspect /proc/<pid> meanwhile.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GO_WANT_HELPER_PROCESS") != "1" {
		return
	}
	var rep helperReport
	err := Enter(Spec{User: os.Getenv("JAIL_USER"), Chroot: os.Getenv("JAIL_ROOT"), SystemRoots: os.Getenv("JAIL_ROOTS") == "1"})
	if err != nil {
		rep.Err = err.Error()
	} else {
		rep.UID, rep.GID, rep.Groups, rep.Root, err = Describe()
		if err != nil {
			rep.Err = "describe: " + err.Error()
		}
		var st syscall.Stat_t
		if err := syscall.Stat("/", &st); err == nil {
			rep.RootDev, rep.RootIno = st.Dev, st.Ino
		}
		rep.Cwd, _ = os.Getwd()
		rep.Roots = -1
		if pool, err := x509.SystemCertPool(); err == nil {
			rep.Roots = len(pool.Subjects()) //nolint:staticcheck // a count is all it needs
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// procCreds holds the Uid/Gid/Groups lines of one thread's status file.
type procCreds struct {
	uids, gids []int // real, effective, saved, filesystem
	groups     []int
}

func readStatus(t *testing.T, path string) procCreds {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c procCreds
	for line := range strings.Lines(string(data)) {
		key, val, _ := strings.Cut(line, ":")
		if key != "Uid" && key != "Gid" && key != "Groups" {
			continue
		}
		var ids []int
		for _, f := range strings.Fields(val) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %q", path, line)
			}
			ids = append(ids, n)
		}
		switch key {
		case "Uid":
			c.uids = ids
		case "Gid":
			c.gids = ids
		case "Groups":
			c.groups = ids
		}
	}
	return c
}

// jailUser returns "postfix" if that user exists, else "nobody".
func jailUser(t *testing.T) (name string, uid, gid int, groups []int) {
	t.Helper()
	for _, name := range []string{"postfix", "nobody"} {
		uid, gid, groups, err := lookup(name)
		if err == nil {
			return name, uid, gid, groups
		}
	}
	t.Skip("neither postfix nor nobody exists")
	return
}

// jailDir returns a fresh directory that an unprivileged user can traverse.
func jailDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEnterAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("privilege drop needs root")
	}
	name, uid, gid, groups := jailUser(t)
	rootGroups, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := jailDir(t)
	missing := filepath.Join(dir, "missing")
	pool, err := x509.SystemCertPool()
	hostRoots := err == nil && len(pool.Subjects()) > 0 //nolint:staticcheck // a count is all it needs

	tests := []struct {
		name     string
		spec     Spec
		wantErr  string
		uid, gid int
		groups   []int
		root     string // as seen from outside
		cwd      string
		roots    string // "some" or "none": the system CAs crypto/x509 finds inside; "": not checked
	}{
		// Without SystemRoots the chroot leaves the system CAs behind
		// (nothing reads them: tls_append_default_CA = no); with it
		// they were read before.
		{"user and chroot", Spec{User: name, Chroot: dir}, "", uid, gid, groups, dir, "/", "none"},
		{"user, chroot, system roots", Spec{User: name, Chroot: dir, SystemRoots: true}, "", uid, gid, groups, dir, "/", "some"},
		{"user only", Spec{User: name}, "", uid, gid, groups, "/", cwd, ""},
		{"chroot only", Spec{Chroot: dir}, "", 0, 0, rootGroups, dir, "/", ""},
		{"nothing", Spec{}, "", 0, 0, rootGroups, "/", cwd, ""},
		{"missing chroot", Spec{User: name, Chroot: missing}, "chroot(" + missing + "): no such file or directory", 0, 0, nil, "", "", ""},
		{"unknown user", Spec{User: "no-such-user-jailtest", Chroot: dir}, "unknown user: no-such-user-jailtest", 0, 0, nil, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "GO_WANT_HELPER_PROCESS=1",
				"JAIL_USER="+tc.spec.User, "JAIL_ROOT="+tc.spec.Chroot, fmt.Sprintf("JAIL_ROOTS=%d", boolInt(tc.spec.SystemRoots)))
			cmd.Stderr = os.Stderr
			stdin, stdout := pftest.StartPiped(t, cmd)
			defer func() {
				stdin.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("helper: %v", err)
				}
			}()
			line, err := bufio.NewReader(stdout).ReadBytes('\n')
			if err != nil {
				t.Fatalf("read helper report: %v", err)
			}
			var rep helperReport
			if err := json.Unmarshal(line, &rep); err != nil {
				t.Fatalf("helper report %q: %v", line, err)
			}

			if tc.wantErr != "" {
				if rep.Err != tc.wantErr {
					t.Errorf("error = %q, want %q", rep.Err, tc.wantErr)
				}
				return
			}
			if rep.Err != "" {
				t.Fatalf("helper: %s", rep.Err)
			}
			if rep.UID != tc.uid || rep.GID != tc.gid || !sameSet(rep.Groups, tc.groups) {
				t.Errorf("inside: uid %d gid %d groups %v, want %d %d %v", rep.UID, rep.GID, rep.Groups, tc.uid, tc.gid, tc.groups)
			}
			switch {
			case tc.roots == "some" && rep.Roots <= 0 && hostRoots:
				t.Errorf("inside: %d system CAs, want those read before the chroot", rep.Roots)
			case tc.roots == "none" && rep.Roots > 0:
				t.Errorf("inside: %d system CAs, want none read (SystemRoots unset)", rep.Roots)
			}
			if rep.Cwd != tc.cwd {
				t.Errorf("cwd = %q, want %q", rep.Cwd, tc.cwd)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(tc.root, &st); err != nil {
				t.Fatal(err)
			}
			if rep.RootDev != st.Dev || rep.RootIno != st.Ino {
				t.Errorf(`inside, "/" is %d:%d, want %s (%d:%d)`, rep.RootDev, rep.RootIno, tc.root, st.Dev, st.Ino)
			}

			// From outside: the root link and every thread's credentials.
			pid := cmd.Process.Pid
			if got, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || got != tc.root {
				t.Errorf("/proc/%d/root = %q, %v; want %q", pid, got, err, tc.root)
			}
			tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
			if err != nil || len(tasks) == 0 {
				t.Fatalf("threads of %d: %v %v", pid, tasks, err)
			}
			for _, task := range tasks {
				c := readStatus(t, task)
				for i := range 4 {
					if c.uids[i] != tc.uid || c.gids[i] != tc.gid {
						t.Errorf("%s: Uid %v Gid %v, want all %d and %d", task, c.uids, c.gids, tc.uid, tc.gid)
						break
					}
				}
				if !sameSet(c.groups, tc.groups) {
					t.Errorf("%s: Groups %v, want %v", task, c.groups, tc.groups)
				}
			}
		})
	}
}

// TestEnterUnknownUser runs in-process: the lookup fails before anything
// is changed.
func TestEnterUnknownUser(t *testing.T) {
	for _, name := range []string{"no-such-user-jailtest", "x y", "\x00"} {
		err := Enter(Spec{User: name, Chroot: "/nonexistent"})
		if !errors.Is(err, ErrUnknownUser) || err.Error() != "unknown user: "+name {
			t.Errorf("Enter(%q) = %v, want %q", name, err, "unknown user: "+name)
		}
	}
	if _, err := os.Stat("/proc/self/root"); err != nil {
		t.Fatal(err) // still outside any jail
	}
}

func TestEnterWithoutRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("checks the error wording of an unprivileged caller")
	}
	name := "nobody"
	if _, err := user.Lookup(name); err != nil {
		t.Skip("no user nobody")
	}
	err := Enter(Spec{User: name})
	if err == nil || !strings.HasPrefix(err.Error(), "setgid(") || !errors.Is(err, syscall.EPERM) {
		t.Errorf("Enter as non-root = %v, want setgid(...): operation not permitted", err)
	}
}

func TestLookup(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	uid, gid, groups, err := lookup(u.Username)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(uid) != u.Uid || strconv.Itoa(gid) != u.Gid {
		t.Errorf("lookup(%s) = uid %d gid %d, want %s %s", u.Username, uid, gid, u.Uid, u.Gid)
	}
	if len(groups) == 0 || groups[0] != gid {
		t.Errorf("groups %v do not start with the primary group %d", groups, gid)
	}
}

func TestDescribe(t *testing.T) {
	uid, gid, groups, root, err := Describe()
	if err != nil {
		t.Fatal(err)
	}
	self := readStatus(t, "/proc/self/status")
	if uid != self.uids[1] || gid != self.gids[1] || !sameSet(groups, self.groups) {
		t.Errorf("Describe = %d %d %v, /proc says %v %v %v", uid, gid, groups, self.uids, self.gids, self.groups)
	}
	if root != "/" {
		t.Errorf("root = %q, want /", root)
	}
}

func TestSameSet(t *testing.T) {
	tests := []struct {
		a, b []int
		want bool
	}{
		{nil, nil, true},
		{[]int{1, 2}, []int{2, 1}, true},
		{[]int{1, 1, 2}, []int{2, 1}, true},
		{[]int{1}, []int{1, 2}, false},
		{[]int{}, []int{0}, false},
	}
	for _, tc := range tests {
		if got := sameSet(tc.a, tc.b); got != tc.want {
			t.Errorf("sameSet(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
