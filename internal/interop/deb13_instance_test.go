package interop

// Debian 13 instances: Postfix 3.10 (master, every daemon, and Debian 13's
// own C tlsproxy) from the Debian 13 tree that scripts/debian13.sh makes
// with debootstrap, run under chroot(8) by scripts/pfinstance.sh --root.
// An instance's directory lives inside the tree (TREE/tmp/...); the tests
// keep using host paths (TREE/tmp/.../log/maillog and so on), and
// pfinstance.sh writes them into main.cf and master.cf without the TREE
// prefix. Loopback is shared with the host, so clients connect as usual.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	deb13RootEnv     = "TLSPROXY_DEB13_ROOT"
	deb13DefaultRoot = "/var/lib/tlsproxy-test/trixie"
	// deb13Stamp is the file scripts/debian13.sh writes last into a
	// complete tree.
	deb13Stamp = ".tlsproxy-debian13"
)

// deb13Root is the Debian 13 tree: $TLSPROXY_DEB13_ROOT, as for
// scripts/debian13.sh, or its default.
func deb13Root() string {
	if r := os.Getenv(deb13RootEnv); r != "" {
		return filepath.Clean(r)
	}
	return deb13DefaultRoot
}

// deb13Impls: Debian 13's C tlsproxy first (the reference), then ours,
// each under Debian 13's master(8) in the tree.
var deb13Impls = []impl{
	{"deb13-debian", func(*testing.T) string { return deb13Root() + debianTLSProxy }},
	{"deb13-ours", ourBinary},
}

// implRoots maps an impl's name to the Debian tree its Postfix runs in.
var implRoots = map[string]string{"deb13-debian": deb13Root(), "deb13-ours": deb13Root()}

// root is the Debian tree im's Postfix runs in; "" = this machine's.
func (im impl) root() string { return implRoots[im.name] }

// requireDeb13 is requireInterop plus a complete Debian 13 tree; with
// TLSPROXY_INTEROP_REQUIRED=1 a missing tree fails the test.
func requireDeb13(t *testing.T) {
	t.Helper()
	requireInterop(t)
	root := deb13Root()
	var missing []string
	for _, f := range []string{deb13Stamp, "usr/sbin/postfix", "usr/lib/postfix/sbin/master", "usr/lib/postfix/sbin/tlsproxy"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	reason := "the Debian 13 tree " + root + " lacks " + strings.Join(missing, ", ") + "; make it with scripts/debian13.sh as root"
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("Debian 13 interop tests required (%s=1) but cannot run: %s", requiredEnv, reason)
	}
	t.Skipf("Debian 13 interop tests: %s (%s=1 makes this fatal)", reason, requiredEnv)
}

// newInstanceDirIn makes an instance directory for the Postfix of tree
// root: under root's /tmp, or under this machine's /tmp for root "".
func newInstanceDirIn(root string) (string, error) {
	if root == "" {
		return newInstanceDir()
	}
	return os.MkdirTemp(filepath.Join(root, "tmp"), "tlsproxy-interop-")
}

// rootArgs are the pfinstance.sh options that run an instance in tree
// root (none for root "").
func rootArgs(root string) []string {
	if root == "" {
		return nil
	}
	return []string{"--root", root}
}

// treePath is host path p as Postfix in tree root sees it.
func treePath(root, p string) string {
	if root == "" {
		return p
	}
	return "/" + strings.TrimLeft(strings.TrimPrefix(p, root), "/")
}

// deb13KnownDiff is a difference between Debian 13's tlsproxy's log and
// ours that a feature not yet on main removes: ours logs what Postfix 3.7
// logs. fix turns our (normalized) text into Debian 13's; each fix leaves
// text it does not concern alone, and has nothing to do once the feature
// has landed.
type deb13KnownDiff struct {
	feature string
	fix     func(string) string
}

// deb13KnownDiffs is empty: the differences first seen against Debian 13
// (key-exchange group in lower case, 3.9+ "cert fingerprint=... pkey
// fingerprint=", no signatures on a resumed 3.10+ session, 3.8+ medium
// cipher list) are all gone, so each is now a failure if it comes back.
// A new difference that a feature still being built explains goes here,
// with the feature's name, until the feature lands.
var deb13KnownDiffs []deb13KnownDiff

// deb13Deliberate are differences by design, documented in the README:
// fix turns our text into what Debian 13's tlsproxy writes instead.
var deb13Deliberate = []deb13KnownDiff{
	{"post-quantum key exchange by default (README, key-exchange groups: Postfix 3.11's default whatever the release; Debian 13's 3.10 offers none)",
		func(s string) string {
			return regexp.MustCompile(`key-exchange (?i:X25519MLKEM768)\b`).ReplaceAllString(s, "key-exchange x25519")
		}},
}

// applyDiffs applies each fix of diffs to s in turn and returns the
// result with the features of the fixes that changed something.
func applyDiffs(s string, diffs []deb13KnownDiff) (string, []string) {
	var features []string
	for _, k := range diffs {
		if f := k.fix(s); f != s {
			s, features = f, append(features, k.feature)
		}
	}
	return s, features
}

// compareDeb13 compares normalized log text of Debian 13's tlsproxy (deb)
// and ours. Equal passes, and so does equal after the deliberate
// differences (logged). If ours equals deb after the known differences
// too, the test is skipped with a message naming the missing features
// (so it turns into a pass, not a skip, once they land); any other
// difference fails.
func compareDeb13(t *testing.T, what, deb, ours string) {
	t.Helper()
	if deb == ours {
		t.Logf("%s: Debian 13's tlsproxy and ours log the same:\n%s", what, ours)
		return
	}
	fixed, features := applyDiffs(ours, deb13Deliberate)
	if fixed == deb {
		t.Logf("%s: Debian 13's tlsproxy and ours log the same but for differences by design: %s\ndebian 13:\n%s\nours:\n%s",
			what, strings.Join(features, "; "), deb, ours)
		return
	}
	fixed, pending := applyDiffs(fixed, deb13KnownDiffs)
	if fixed == deb {
		t.Skipf("%s: KNOWN DIFFERENCE, ours differs from Debian 13's tlsproxy only where a pending feature is missing: %s\ndebian 13:\n%s\nours:\n%s",
			what, strings.Join(pending, "; "), deb, ours)
	}
	t.Errorf("%s: ours differs from Debian 13's tlsproxy\ndebian 13:\n%s\nours:\n%s", what, deb, ours)
}
