// Package master implements the child side of the Postfix master(8)
// contract as an event server such as tlsproxy(8) sees it: the command
// line master builds from master.cf (ParseArgs, Check), the GENERATION
// environment variable (Generation), the inherited descriptors 3..6+n-1
// (CheckFDs, Listener), the 12-byte status records written to fd 5
// (Status) and EOF on fd 5 as the signal for "postfix reload" or master
// death (WatchMaster). It mirrors Postfix's event_server skeleton; the
// byte-level facts are in the project's master-daemon spec.
//
// Linux only.
package master

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Descriptors set up by master(8) before exec.
const (
	FlowReadFD  = 3 // flow-control pipe, read end (unused by tlsproxy, must be open)
	FlowWriteFD = 4 // flow-control pipe, write end (same)
	StatusFD    = 5 // status socket shared with master
	ListenFD    = 6 // first listening socket; -s n gives ListenFD..ListenFD+n-1
)

// Generation parses the GENERATION environment value: octal digits, as
// master(8) writes it. An empty value (variable unset) means 0.
func Generation(env string) (uint32, error) {
	if env == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(env, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("bad generation: %s", env)
	}
	return uint32(v), nil
}

// CheckFDs verifies the descriptors master(8) must have passed: fds 3
// and 4 must be pipes, fd 5 and the n listening fds from 6 on must be
// sockets. It sets FD_CLOEXEC on them so that they do not leak into
// programs we run. Postfix only checks that they are open; the type
// check matters in Go because the runtime itself opens files early
// (e.g. cgroup CPU limit files), which fill any hole master left.
func CheckFDs(n int) error {
	if n < 1 || n > 1<<16 {
		return fmt.Errorf("invalid listening socket count %d", n)
	}
	for fd := FlowReadFD; fd < ListenFD+n; fd++ {
		want, what := uint32(unix.S_IFSOCK), "not a socket"
		if fd < StatusFD {
			want, what = unix.S_IFIFO, "not a pipe"
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("file descriptor %d from master: %w", fd, err)
		}
		if st.Mode&unix.S_IFMT != want {
			return fmt.Errorf("file descriptor %d from master: %s", fd, what)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		}
		if err != nil {
			return fmt.Errorf("set close-on-exec on file descriptor %d: %w", fd, err)
		}
	}
	return nil
}

// Listener turns the inherited listening socket fd into a
// *net.UnixListener. The listener works on a duplicate of fd; fd itself
// is then replaced by /dev/null (or, failing that, a copy of stdin, as
// Postfix does when it drains). So the listener owns the process's only
// reference to the socket (Close really stops this process accepting;
// master keeps its own copy), and the number fd stays occupied, so no
// later open() in this process receives it by accident. The socket file
// is never unlinked; it belongs to master.
func Listener(fd int) (*net.UnixListener, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listening socket %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(dup), "master-listen-"+strconv.Itoa(fd))
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("listening socket %d: %w", fd, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("listening socket %d: not a UNIX-domain socket (%s)", fd, l.Addr().Network())
	}
	ul.SetUnlinkOnClose(false)
	occupy(fd)
	return ul, nil
}

// occupy replaces fd by a harmless descriptor; if none can be opened it
// just closes fd.
func occupy(fd int) {
	filler, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		filler, err = unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 0)
	}
	if err != nil {
		unix.Close(fd)
		return
	}
	unix.Dup3(filler, fd, unix.O_CLOEXEC)
	unix.Close(filler)
}

// IsTTY reports whether fd refers to a terminal (for Options.Check).
func IsTTY(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
