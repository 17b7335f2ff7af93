package pfclient

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/pfversion"
)

// Timeout is how long a Conn waits for the announcement, the status and
// the context by default: postscreen's 10 s (TLSPROXY_INIT_TIMEOUT).
const Timeout = 10 * time.Second

// peer names the tlsproxy side in scan errors.
const peer = "private/tlsproxy"

// Conn is a client connection to tlsproxy speaking as Version does.
type Conn struct {
	*net.UnixConn
	Version pfversion.Version
	// Timeout bounds each read of the status and the context (zero:
	// the package's Timeout). The read deadline is cleared afterwards.
	Timeout time.Duration
}

// Dial connects to the tlsproxy socket at path (10 s limit). For 3.6 and
// later (G4, G5) it then reads the protocol announcement and checks it is
// exactly {protocol=tlsproxy_protocol}, waiting at most Timeout and never
// reading past it; 2.8 – 3.5 read nothing and speak first.
func Dial(path string, v pfversion.Version) (*Conn, error) {
	return dial(path, v, Timeout)
}

func dial(path string, v pfversion.Version, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: Timeout}
	nc, err := d.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("pfclient: connect to %s: %w", path, err)
	}
	c := &Conn{UnixConn: nc.(*net.UnixConn), Version: v, Timeout: timeout}
	if v.Generation().Announces() {
		l, err := c.readList("protocol announcement")
		if err == nil {
			err = l.Expect(peer, "protocol")
		}
		if err == nil && l[0].Value != "tlsproxy_protocol" {
			err = fmt.Errorf("unexpected protocol %q", l[0].Value)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pfclient: %s: read protocol announcement: %w", path, err)
		}
	}
	return c, nil
}

// Send writes r.Bytes() in one write. r.Version must be c.Version.
func (c *Conn) Send(r Request) error {
	if r.Version != c.Version {
		return fmt.Errorf("pfclient: %v request on a %v connection", r.Version, c.Version)
	}
	b, err := r.Bytes()
	if err != nil {
		return err
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("pfclient: send request: %w", err)
	}
	return nil
}

// Status reads the {status=N} reply (a STRICT one-attribute list) and
// returns N; 1 means the client must now pass the remote socket.
func (c *Conn) Status() (int, error) {
	l, err := c.readList("status")
	if err == nil {
		err = l.Expect(peer, "status")
	}
	if err != nil {
		return 0, fmt.Errorf("pfclient: receive status: %w", err)
	}
	n, err := attr.ParseInt(l[0].Value)
	if err != nil {
		return 0, fmt.Errorf("pfclient: receive status: %w", err)
	}
	return n, nil
}

// PassFD hands f (the remote SMTP peer's socket) to tlsproxy: one 0x00
// byte with f's descriptor. The caller may close f afterwards, as
// postscreen does.
func (c *Conn) PassFD(f *os.File) error {
	if err := fdpass.Send(c.UnixConn, f); err != nil {
		return fmt.Errorf("pfclient: pass descriptor: %w", err)
	}
	return nil
}

// contextInts are the INT attributes of the TLS context reply.
var contextInts = map[string]bool{
	"level": true, "peer_status": true, "cipher_usebits": true, "cipher_algbits": true,
	"key_exchange_bits": true, "ctos_rpk": true, "stoc_rpk": true,
	"clnt_signature_bits": true, "srvr_signature_bits": true, "rpt_reported": true,
	"trace_size_limit": true,
}

// Context reads the TLS context reply of n attributes the way a client
// expecting that shape does: STRICT against pfversion.ContextNames(n)
// (exact names and order, integer values well formed), never reading past
// the list, so that plaintext following it stays unread.
func (c *Conn) Context(n int) (attr.List, error) {
	names := pfversion.ContextNames(n)
	if names == nil {
		return nil, fmt.Errorf("pfclient: no TLS context shape with %d attributes", n)
	}
	l, err := c.readList("TLS context")
	if err == nil {
		err = checkContext(l, names)
	}
	if err != nil {
		return nil, fmt.Errorf("pfclient: receive TLS context: %w", err)
	}
	return l, nil
}

// checkContext is the STRICT scan of a context reply: exactly names, in
// order, with well-formed integers.
func checkContext(l attr.List, names []string) error {
	if err := l.Expect(peer, names...); err != nil {
		return err
	}
	for _, a := range l {
		if contextInts[a.Name] {
			if _, err := attr.ParseInt(a.Value); err != nil {
				return &attr.ScanError{Kind: attr.MalformedNumber, Peer: peer, Name: a.Name, Value: a.Value}
			}
		}
	}
	return nil
}

// Open performs the whole hand-over as the client of r.Version: Dial,
// Send, Status, and PassFD(remote) when the status is 1 (and the request
// is not a probe). It returns the connection and the status; on status 1
// the caller reads the context (if r.Flags has FlagContext) and then
// talks plaintext on the Conn. On status 0 the caller just closes it.
func Open(path string, r Request, remote *os.File) (*Conn, int, error) {
	c, err := Dial(path, r.Version)
	if err != nil {
		return nil, 0, err
	}
	status, err := c.handOver(r, remote)
	if err != nil {
		c.Close()
		return nil, status, err
	}
	return c, status, nil
}

func (c *Conn) handOver(r Request, remote *os.File) (int, error) {
	if err := c.Send(r); err != nil {
		return 0, err
	}
	status, err := c.Status()
	if err != nil || status != 1 || r.Flags&FlagProbe != 0 {
		return status, err
	}
	if remote == nil {
		return status, errors.New("pfclient: status 1 but no remote socket to pass")
	}
	return status, c.PassFD(remote)
}

// readList reads one list within c.Timeout; the read deadline is cleared
// afterwards.
func (c *Conn) readList(what string) (attr.List, error) {
	t := c.Timeout
	if t <= 0 {
		t = Timeout
	}
	if err := c.SetReadDeadline(time.Now().Add(t)); err != nil {
		return nil, err
	}
	defer c.SetReadDeadline(time.Time{})
	return readOne(c.UnixConn, what)
}

// readOne reads one attr0 list from rd one byte per read, so that nothing
// after its terminator is consumed.
func readOne(rd io.Reader, what string) (attr.List, error) {
	r := attr.NewReader(byteReader{rd})
	l, err := r.ReadList()
	if err == io.EOF {
		err = fmt.Errorf("end of input before the %s: %w", what, io.ErrUnexpectedEOF)
	}
	if err == nil && r.Buffered() != 0 { // cannot happen with byteReader
		err = fmt.Errorf("read past the %s", what)
	}
	return l, err
}

// byteReader hands out at most one byte per Read.
type byteReader struct{ r io.Reader }

func (b byteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return b.r.Read(p)
}
