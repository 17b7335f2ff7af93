// Package fdpass sends and receives a single file descriptor over a
// UNIX-domain stream socket the way Postfix does it (unix_send_fd /
// unix_recv_fd): one message made of exactly one dummy data byte (0x00)
// plus one SOL_SOCKET/SCM_RIGHTS control message carrying exactly one
// descriptor. postscreen(8) and smtp(8) hand the remote SMTP peer's TCP
// socket to tlsproxy(8) this way; no acknowledgement follows.
//
// Linux only (it relies on SCM_RIGHTS semantics of AF_UNIX stream sockets).
package fdpass

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"tlsproxy/internal/sockio"
)

// maxFDs is how many descriptors the receive control buffer has room for.
// Anything beyond one is an error, but reserving room for a few lets Recv
// report "got N descriptors" (and close them) instead of a bare truncation.
const maxFDs = 8

// oobSize leaves room for SCM_RIGHTS with maxFDs descriptors and one
// SCM_CREDENTIALS message (delivered when SO_PASSCRED is set on the socket).
var oobSize = unix.CmsgSpace(4*maxFDs) + unix.CmsgSpace(unix.SizeofUcred)

// Recv reads one message from c (a UNIX-domain stream socket): exactly 1 data byte and one SCM_RIGHTS
// control message carrying exactly one descriptor, which it returns as an
// *os.File (close-on-exec: MSG_CMSG_CLOEXEC), non-blocking and therefore
// served by Go's poller. The receive is a raw system call (see
// internal/sockio). Anything else is an error: EOF, no control message, a truncated
// control buffer (MSG_CTRUNC), several descriptors, several control
// messages, a wrong level/type, or more than one data byte in the message.
// Every descriptor that did arrive with a failed message is closed.
//
// Recv reads with a 2-byte buffer to detect extra data sent in the same
// message. On Linux a stream read stops after a message that carried
// descriptors, so data the peer writes after the descriptor message is
// not consumed. Recv honours the deadline the caller set on c.
func Recv(c syscall.Conn) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 2)
	oob := make([]byte, oobSize)
	n, oobn, flags, err := sockio.Recvmsg(rc, buf, oob)
	if err != nil {
		// Worded as net.UnixConn.ReadMsgUnix words it.
		var local, remote net.Addr
		if nc, ok := c.(net.Conn); ok {
			local, remote = nc.LocalAddr(), nc.RemoteAddr()
		}
		err = sockio.OpError("read", "recvmsg", "unix", local, remote, err)
	}
	fds, perr := parseRights(oob[:oobn])
	fail := func(e error) (*os.File, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, e
	}
	switch {
	case errors.Is(err, io.EOF) || (err == nil && n == 0 && oobn == 0):
		return fail(fmt.Errorf("peer closed the connection: %w", io.EOF))
	case err != nil:
		return fail(err)
	case perr != nil:
		return fail(perr)
	case flags&unix.MSG_CTRUNC != 0:
		return fail(errors.New("control message truncated (too many descriptors)"))
	case oobn == 0:
		return fail(errors.New("no file descriptor received"))
	case len(fds) != 1:
		return fail(fmt.Errorf("got %d file descriptors, want 1", len(fds)))
	case n != 1:
		return fail(fmt.Errorf("got %d data bytes with the file descriptor, want 1", n))
	}
	// Non-blocking before os.NewFile: the file is then served by Go's
	// poller (deadlines work, no thread blocks in read).
	if err := sockio.SetNonblock(uintptr(fds[0])); err != nil {
		return fail(fmt.Errorf("set non-blocking: %w", err))
	}
	return os.NewFile(uintptr(fds[0]), "fdpass"), nil
}

// parseRights returns every descriptor found in oob and an error unless
// oob holds exactly one SOL_SOCKET/SCM_RIGHTS message. The descriptors
// are returned even with an error so that the caller can close them.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("malformed control message: %w", err)
	}
	var fds []int
	var bad error
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			bad = fmt.Errorf("unexpected control message (level %d, type %d)", m.Header.Level, m.Header.Type)
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = fmt.Errorf("malformed SCM_RIGHTS message: %w", err)
			continue
		}
		fds = append(fds, got...)
	}
	if bad == nil && len(msgs) != 1 {
		bad = fmt.Errorf("got %d control messages, want 1", len(msgs))
	}
	return fds, bad
}

// Send writes one message to c: the data byte 0x00 and an SCM_RIGHTS
// control message carrying f's descriptor, as postscreen(8) and smtp(8)
// do. f stays open; the receiver gets its own copy. Unlike f.Fd(), Send
// does not switch f to blocking mode.
func Send(c *net.UnixConn, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("send file descriptor: %w", err)
	}
	var n, oobn, want int
	var werr error
	// Send from inside Control, so that f cannot be closed meanwhile.
	err = rc.Control(func(fd uintptr) {
		oob := unix.UnixRights(int(fd))
		want = len(oob)
		n, oobn, werr = c.WriteMsgUnix([]byte{0}, oob, nil)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("send file descriptor: %w", err)
	}
	if n != 1 || oobn != want {
		return fmt.Errorf("send file descriptor: short write (%d data, %d control bytes)", n, oobn)
	}
	return nil
}
