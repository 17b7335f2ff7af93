package pftest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"tlsproxy/internal/fdpass"
)

// Fake postscreen(8)/smtp(8) side of the tlsproxy protocol, generation
// G4 (Postfix 3.6+): read the announcement, send the request, read the
// status, pass the descriptor. The attr0 lists are built and parsed by
// hand here, independently of the production encoder.

// ClientTimeout is the read deadline ReadAnnouncement and ReadStatus set
// (postscreen waits 10 s for tlsproxy); they clear the deadline afterwards.
const ClientTimeout = 10 * time.Second

// maxList bounds the size of an attribute list the fake client reads.
const maxList = 4096

// DialTLSProxy connects to the tlsproxy socket at path.
func DialTLSProxy(path string) (*net.UnixConn, error) {
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
}

// Connect dials the tlsproxy socket at path and reads its announcement,
// failing t on error. The caller closes the connection.
func Connect(t testing.TB, path string) *net.UnixConn {
	t.Helper()
	c, err := DialTLSProxy(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadAnnouncement(c); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// ReadAnnouncement reads the server's first attribute list and checks
// that it is exactly {protocol = tlsproxy_protocol}.
func ReadAnnouncement(c *net.UnixConn) error {
	items, err := readList(c)
	if err != nil {
		return fmt.Errorf("read protocol announcement: %w", err)
	}
	if len(items) != 2 || items[0] != "protocol" || items[1] != "tlsproxy_protocol" {
		return fmt.Errorf("unexpected protocol announcement %q", items)
	}
	return nil
}

// Request returns the G3/G4 request list bytes: remote_endpoint, flags,
// timeout (handshake), timeout (session), serverid. Integers are sent as
// unsigned 32-bit decimal, as Postfix prints a C int.
func Request(endpoint string, flags, hsTimeout, sessTimeout int, serverid string) []byte {
	var b []byte
	add := func(name, value string) {
		b = append(b, name...)
		b = append(b, 0)
		b = append(b, value...)
		b = append(b, 0)
	}
	num := func(n int) string { return strconv.FormatUint(uint64(uint32(n)), 10) }
	add("remote_endpoint", endpoint)
	add("flags", num(flags))
	add("timeout", num(hsTimeout))
	add("timeout", num(sessTimeout))
	add("serverid", serverid)
	return append(b, 0)
}

// SendRequest writes Request(...) to c in one write.
func SendRequest(c *net.UnixConn, endpoint string, flags, hsTimeout, sessTimeout int, serverid string) error {
	if _, err := c.Write(Request(endpoint, flags, hsTimeout, sessTimeout, serverid)); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	return nil
}

// RequestStatus sends the request (as SendRequest) and returns the status
// the server answers with.
func RequestStatus(c *net.UnixConn, endpoint string, flags, hsTimeout, sessTimeout int, serverid string) (int, error) {
	if err := SendRequest(c, endpoint, flags, hsTimeout, sessTimeout, serverid); err != nil {
		return 0, err
	}
	return ReadStatus(c)
}

// ReadStatus reads the {status = N} reply and returns N (0 or 1 from a
// correct server).
func ReadStatus(c *net.UnixConn) (int, error) {
	items, err := readList(c)
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	if len(items) != 2 || items[0] != "status" {
		return 0, fmt.Errorf("unexpected status reply %q", items)
	}
	v, err := strconv.ParseUint(items[1], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("malformed status value %q", items[1])
	}
	return int(int32(v)), nil
}

// PassFD hands f to the server: one 0x00 byte with f's descriptor.
func PassFD(c *net.UnixConn, f *os.File) error {
	return fdpass.Send(c, f)
}

// readList reads one attr0 list byte by byte (so that nothing after the
// list is consumed) and returns its names and values alternately.
func readList(c *net.UnixConn) ([]string, error) {
	if err := c.SetReadDeadline(time.Now().Add(ClientTimeout)); err != nil {
		return nil, err
	}
	defer c.SetReadDeadline(time.Time{})
	var items []string
	var cur []byte
	var b [1]byte
	for range maxList {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return items, err
		}
		switch {
		case b[0] != 0:
			cur = append(cur, b[0])
		case len(cur) == 0 && len(items)%2 == 0:
			return items, nil // list terminator in place of a name
		default:
			items = append(items, string(cur))
			cur = cur[:0]
		}
	}
	return items, errors.New("attribute list too long")
}
