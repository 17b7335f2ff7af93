// Package jail drops the privileges of a daemon started as root, in the
// order Postfix's chroot_uid(3) (util/chroot_uid.c) uses when a service
// runs with the master.cf "unprivileged" (-u) and "chroot" (-c) columns:
//
//  1. look up the user (mail_owner);
//  2. setgid to its primary group;
//  3. setgroups to its supplementary groups, as initgroups(3) would;
//  4. chroot to the directory (queue_directory), then chdir("/");
//  5. setuid to the user.
//
// The group changes come first because they need root; the chroot comes
// before setuid for the same reason. Since Go 1.16 the Linux
// implementations of syscall.Setuid, Setgid and Setgroups change every
// thread of the process, and chroot is process-wide (Go's threads share
// their filesystem context), so a direct drop is sound without the
// re-exec some Go daemons use.
//
// Things that read files lazily must be loaded before the chroot. Enter
// does this for the local time zone, the user database and, when it will
// chroot and Spec.SystemRoots asks for them, the system X.509 roots; other
// packages load what they need themselves (certificates, the log socket in
// package maillog).
package jail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnknownUser is wrapped by Enter's error when Spec.User does not exist.
var ErrUnknownUser = errors.New("unknown user")

// Spec says what Enter changes.
type Spec struct {
	User   string // user to become (mail_owner); "" keeps the current ids
	Chroot string // directory to chroot into (queue_directory); "" means no chroot
	// SystemRoots: something may ask crypto/x509 for the system's CA
	// certificates after the chroot (tls_append_default_CA = yes), so
	// they are read before it. Reading them costs 12 – 30 ms of CPU on
	// Debian, in every process master starts, so only then.
	SystemRoots bool
}

// WarmUp loads lazily-initialised data that would be unreachable after a
// chroot: the local time zone and, when roots is true, the system
// certificate pool (about 20 ms on Debian, and cached by crypto/x509).
func WarmUp(roots bool) {
	_, _ = time.Now().Zone()
	if roots {
		_, _ = x509.SystemCertPool() // an error only means there are no system roots
	}
}

// Enter drops privileges as described by s (see the package comment for
// the order). Errors name the step like Postfix's messages do, for
// example "unknown user: postfix", "setgid(105): operation not permitted"
// or "chroot(/var/spool/postfix): no such file or directory". After a
// failure the process may be partly changed and should exit.
//
// When s.User is set, Enter finally checks that the real, effective and
// saved ids and the supplementary groups are the requested ones.
func Enter(s Spec) error {
	WarmUp(s.Chroot != "" && s.SystemRoots)
	var uid, gid int
	var groups []int
	if s.User != "" {
		var err error
		if uid, gid, groups, err = lookup(s.User); err != nil {
			return err
		}
		if err := syscall.Setgid(gid); err != nil {
			return fmt.Errorf("setgid(%d): %w", gid, err)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups(%v): %w", groups, err)
		}
	}
	if s.Chroot != "" {
		if err := syscall.Chroot(s.Chroot); err != nil {
			return fmt.Errorf("chroot(%s): %w", s.Chroot, err)
		}
		if err := syscall.Chdir("/"); err != nil {
			return fmt.Errorf("chdir(/): %w", err)
		}
	}
	if s.User == "" {
		return nil
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %w", uid, err)
	}
	return check(uid, gid, groups)
}

// lookup returns the user's ids and its group list, primary group first,
// the way initgroups(3) would compute it.
func lookup(name string) (uid, gid int, groups []int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, 0, nil, fmt.Errorf("%w: %s", ErrUnknownUser, name)
		}
		return 0, 0, nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, nil, fmt.Errorf("user %s: bad uid %q", name, u.Uid)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, nil, fmt.Errorf("user %s: bad gid %q", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("groups of user %s: %w", name, err)
	}
	groups = []int{gid}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("user %s: bad group id %q", name, s)
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return uid, gid, groups, nil
}

// check verifies the process credentials after the drop.
func check(uid, gid int, groups []int) error {
	gotUID, gotGID, gotGroups, _, err := Describe()
	if err != nil {
		return fmt.Errorf("check privileges: %w", err)
	}
	if gotUID != uid || gotGID != gid {
		return fmt.Errorf("check privileges: uid %d gid %d, want %d %d", gotUID, gotGID, uid, gid)
	}
	if !sameSet(gotGroups, groups) {
		return fmt.Errorf("check privileges: groups %v, want %v", gotGroups, groups)
	}
	return nil
}

// Describe reports the process credentials and root directory. uid and gid
// come from getresuid/getresgid and are an error unless the real,
// effective and saved ids agree; groups from getgroups. These work inside
// a chroot. root is the target of /proc/self/root, or "" when /proc is
// not available (as in a chroot without /proc); note that from inside a
// chroot the kernel shows that link as "/", so only another process can
// see the jail's real path.
func Describe() (uid, gid int, groups []int, root string, err error) {
	ru, eu, su := unix.Getresuid()
	rg, eg, sg := unix.Getresgid()
	if ru != eu || eu != su {
		return 0, 0, nil, "", fmt.Errorf("mixed user ids: real %d effective %d saved %d", ru, eu, su)
	}
	if rg != eg || eg != sg {
		return 0, 0, nil, "", fmt.Errorf("mixed group ids: real %d effective %d saved %d", rg, eg, sg)
	}
	if groups, err = unix.Getgroups(); err != nil {
		return 0, 0, nil, "", fmt.Errorf("getgroups: %w", err)
	}
	root, err = os.Readlink("/proc/self/root")
	if err != nil {
		root = ""
	}
	return eu, eg, groups, root, nil
}

// sameSet reports whether a and b hold the same ids, ignoring order and
// repeats.
func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
