package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// defaultImportEnvironment is Postfix 3.7's import_environment default,
// which a pin via import_environment has to repeat.
const defaultImportEnvironment = "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME"

// TestPostfixChecksStaySilent: after ours has run in Debian's Postfix,
// installed as an operator installs it (a file in daemon_directory), with
// the root-owned release cache of earlier builds left in data_directory,
// "postfix check", "postconf -n" and "postconf -M" warn about nothing:
// with the release learned from master, and with it pinned by
// TLSPROXY_POSTFIX_VERSION in import_environment. The old pin,
// tlsproxy_postfix_version, does make postconf warn (the control that
// shows the check can see a warning).
func TestPostfixChecksStaySilent(t *testing.T) {
	requireInterop(t)
	bin := ourBinary(t)
	var pinned *instance
	for _, tc := range []struct {
		name string
		more []string
		from string // in "expecting Postfix 3.7.11 clients (...)"; DIR = the instance
	}{
		{"learned", nil, "learned from DIR/libexec/master"},
		{"pinned in import_environment",
			[]string{"--main", "import_environment = " + defaultImportEnvironment + " TLSPROXY_POSTFIX_VERSION=3.7.11"},
			"pinned by TLSPROXY_POSTFIX_VERSION in import_environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := onceFor(t, "checks:"+tc.name, func() (*instance, error) {
				in, _, err := startWith(bin, append([]string{"--chroot", "n", "--tlsproxy-args", "-v"}, tc.more...)...)
				return in, err
			})
			if tc.more != nil {
				pinned = in
			}
			installCopy(t, bin, filepath.Join(in.dir, "libexec", "tlsproxy"))
			cache := filepath.Join(in.dir, "data", "tlsproxy-postfix-version")
			if err := os.WriteFile(cache, []byte("postconf 1 2 3 4\n3.7.11\n"), 0o600); err != nil {
				t.Fatal(err)
			}

			offset := in.logSize(t)
			_, port := sClient(t, in, "QUIT\r\n", "-quiet")
			from := strings.ReplaceAll(tc.from, "DIR", in.dir)
			in.waitLog(t, offset, regexp.MustCompile(`postfix/tlsproxy\[\d+\]: expecting Postfix 3\.7\.11 clients \(`+regexp.QuoteMeta(from)+`\)`))
			in.waitLog(t, offset, regexp.MustCompile(fmt.Sprintf(`DISCONNECT \[127\.0\.0\.1\]:%d\n`, port)))
			if _, err := os.Lstat(cache); !os.IsNotExist(err) {
				t.Errorf("the cache of earlier builds is still there (%v)", err)
			}
			if warnings := postfixWarnings(t, in); warnings != "" {
				t.Errorf("Postfix's checks warn:\n%s", warnings)
			}
		})
	}
	if pinned == nil {
		return
	}
	t.Run("control: the old pin warns", func(t *testing.T) {
		etc := filepath.Join(pinned.dir, "etc")
		if out, err := exec.Command("postconf", "-c", etc, "-e", "tlsproxy_postfix_version=3.7.11").CombinedOutput(); err != nil {
			t.Fatalf("postconf -e: %v\n%s", err, out)
		}
		defer exec.Command("postconf", "-c", etc, "-X", "tlsproxy_postfix_version").Run()
		out, _ := exec.Command("postconf", "-c", etc, "-n").CombinedOutput()
		if !strings.Contains(string(out), "warning: "+etc+"/main.cf: unused parameter: tlsproxy_postfix_version=3.7.11") {
			t.Errorf("postconf -n does not warn about tlsproxy_postfix_version:\n%s", out)
		}
	})
}

// installCopy replaces the instance's symbolic link to our binary by a
// copy, as the README installs it ("postfix check" warns about a link
// that leaves daemon_directory).
func installCopy(t *testing.T, bin, path string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// postfixWarnings runs "postfix check", "postconf -n" and "postconf -M"
// on the instance and returns every warning they print or log (postfix
// check logs through postlogd); "" if none.
func postfixWarnings(t *testing.T, in *instance) string {
	t.Helper()
	etc := filepath.Join(in.dir, "etc")
	offset := in.logSize(t)
	var warnings []string
	for _, args := range [][]string{
		{"postfix", "-c", etc, "check"},
		{"postconf", "-c", etc, "-n"},
		{"postconf", "-c", etc, "-M"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "warning") {
				warnings = append(warnings, strings.Join(args, " ")+": "+line)
			}
		}
	}
	// A line logged after the checks marks the end of what they logged.
	const marker = "tlsproxy-interop-checks-done"
	if out, err := exec.Command("postlog", "-c", etc, "-t", marker, "checks done").CombinedOutput(); err != nil {
		t.Fatalf("postlog: %v\n%s", err, out)
	}
	seg := in.waitLog(t, offset, regexp.MustCompile(regexp.QuoteMeta(marker)+`.*checks done`))
	for _, line := range strings.Split(seg, "\n") {
		if strings.Contains(line, "warning") && !strings.Contains(line, "postfix/tlsproxy[") {
			warnings = append(warnings, "log: "+line)
		}
	}
	return strings.Join(warnings, "\n")
}
