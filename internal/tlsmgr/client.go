package tlsmgr

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/logs"
)

// Defaults of Options, Postfix's values where Postfix has one.
const (
	DefaultTimeout    = 10 * time.Second   // see the package doc: not ipc_timeout
	DefaultIdleLimit  = 5 * time.Second    // ipc_idle
	DefaultTTL        = 1000 * time.Second // ipc_ttl
	DefaultRetryDelay = time.Second        // attr_clnt's pause before the retry
)

// ProtocolName is the value of the protocol attribute a 3.6+ tlsmgr announces.
const ProtocolName = "tlsmgr_protocol"

// AnnounceMode says how the client treats the 3.6+ protocol announcement.
type AnnounceMode int

const (
	// AnnounceAuto accepts a connection with or without the announcement
	// and never waits for it (see the package doc).
	AnnounceAuto AnnounceMode = iota
	// AnnounceRequired reads the announcement before the first request on
	// every connection, as Postfix 3.6+ does; a ≤3.5 tlsmgr then times out.
	AnnounceRequired
	// AnnounceNone expects no announcement, as Postfix ≤3.5 does.
	AnnounceNone
)

// Options tune a Client. Zero values select the defaults.
type Options struct {
	Timeout    time.Duration // bound of one call, queueing and retry included
	IdleLimit  time.Duration // close the connection after this long unused
	TTL        time.Duration // close the connection this long after opening
	RetryDelay time.Duration // pause before the one retry
	Announce   AnnounceMode

	// Log, if set, receives Postfix's warnings ("connect to ...",
	// "problem talking to server ...").
	Log logs.Logger
	// Now, if set, replaces time.Now for the idle and TTL checks (tests).
	Now func() time.Time
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("tlsmgr: client closed")

// ServicePath returns the socket name for a tlsmgr_service_name, relative to
// queue_directory like Postfix's "private/tlsmgr".
func ServicePath(serviceName string) string { return "private/" + serviceName }

// Client talks to one tlsmgr service. It is safe for concurrent use.
type Client struct {
	path string
	opts Options

	// sem is a one-slot semaphore that owns everything below; unlike a
	// mutex, waiting for it can time out.
	sem       chan struct{}
	closed    bool
	conn      *net.UnixConn
	rd        *attr.Reader
	announced bool      // the announcement was consumed on conn
	opened    time.Time // by opts.Now
	lastUsed  time.Time // by opts.Now
	uses      uint64    // completed requests, for the idle timer
	idle      *time.Timer
}

// New returns a Client for the socket at path (normally
// ServicePath(tlsmgr_service_name), relative to the current directory). It
// connects on the first request.
func New(path string, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.IdleLimit <= 0 {
		opts.IdleLimit = DefaultIdleLimit
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{path: path, opts: opts, sem: make(chan struct{}, 1)}
}

// Dial returns a Client that is already connected (and, in
// AnnounceRequired mode, has read the announcement): call it before the
// chroot, as tlsproxy does its start-up requests. Later reconnections use
// the same relative path from inside the jail.
func Dial(path string, opts Options) (*Client, error) {
	c := New(path, opts)
	deadline := time.Now().Add(c.opts.Timeout)
	if err := c.acquire(deadline); err != nil {
		return nil, err
	}
	defer c.release()
	if err := c.connect(deadline); err != nil {
		return nil, err
	}
	c.armIdle()
	return c, nil
}

// Close closes the connection; later calls fail with ErrClosed.
func (c *Client) Close() error {
	if err := c.acquire(time.Now().Add(c.opts.Timeout)); err != nil {
		return err
	}
	defer c.release()
	c.closed = true
	if c.idle != nil {
		c.idle.Stop()
	}
	c.drop()
	return nil
}

// retryable marks errors after which attr_clnt drops the connection and
// tries again.
type retryable struct{ err error }

func (e retryable) Error() string { return e.err.Error() }
func (e retryable) Unwrap() error { return e.err }

// call sends one request and decodes its reply with dec, retrying once
// after a transport failure. dec sees the complete reply list; an error
// it returns is final unless it is retryable.
func (c *Client) call(req attr.List, dec func(attr.List) error) error {
	deadline := time.Now().Add(c.opts.Timeout)
	var err error
	for attempt := 0; ; attempt++ {
		err = c.attempt(deadline, req, dec)
		var r retryable
		if !errors.As(err, &r) {
			return err
		}
		err = r.err
		if attempt == 1 || time.Until(deadline) <= c.opts.RetryDelay {
			break
		}
		t := time.NewTimer(c.opts.RetryDelay)
		<-t.C
	}
	c.warnf("problem talking to server %s: %v", c.path, err)
	return err
}

func (c *Client) attempt(deadline time.Time, req attr.List, dec func(attr.List) error) error {
	if err := c.acquire(deadline); err != nil {
		return err
	}
	defer c.release()
	if c.closed {
		return ErrClosed
	}
	if err := c.access(deadline); err != nil {
		return retryable{err}
	}
	reply, err := c.exchange(deadline, req)
	if err == nil {
		err = dec(reply)
	}
	var r retryable
	if errors.As(err, &r) {
		c.drop()
		return err
	}
	c.lastUsed = c.opts.Now()
	c.uses++
	c.armIdle()
	return err
}

// exchange writes req and reads the reply, skipping a late announcement.
func (c *Client) exchange(deadline time.Time, req attr.List) (attr.List, error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, retryable{err}
	}
	if _, err := c.conn.Write(attr.AppendList(nil, req)); err != nil {
		return nil, retryable{fmt.Errorf("send request: %w", err)}
	}
	for {
		l, err := c.rd.ReadList()
		if err != nil {
			return nil, retryable{fmt.Errorf("read reply: %w", err)}
		}
		if c.announced || c.opts.Announce == AnnounceNone || len(l) == 0 || l[0].Name != "protocol" {
			return l, nil
		}
		if err := c.checkAnnouncement(l); err != nil {
			return nil, retryable{err}
		}
	}
}

func (c *Client) checkAnnouncement(l attr.List) error {
	if err := l.Expect(c.path, "protocol"); err != nil {
		return err
	}
	if l[0].Value != ProtocolName {
		return fmt.Errorf("unexpected protocol %q from %s", l[0].Value, c.path)
	}
	c.announced = true
	return nil
}

// access makes sure there is a usable connection, like auto_clnt_access.
func (c *Client) access(deadline time.Time) error {
	if c.conn != nil {
		now := c.opts.Now()
		if now.Sub(c.lastUsed) >= c.opts.IdleLimit || now.Sub(c.opened) >= c.opts.TTL {
			c.drop()
		}
	}
	if c.conn != nil && c.readable() {
		// In AnnounceAuto mode what is waiting may be the announcement of
		// a connection made by Dial; anything else means the server went away.
		if c.opts.Announce != AnnounceAuto || c.announced || !c.readAnnouncement(deadline) || c.readable() {
			c.drop()
		}
	}
	if c.conn != nil {
		return nil
	}
	return c.connect(deadline)
}

func (c *Client) connect(deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("unix", c.path)
	if err != nil {
		c.warnf("connect to %s: %v", c.path, err)
		return fmt.Errorf("connect to %s: %w", c.path, err)
	}
	c.conn = nc.(*net.UnixConn)
	c.rd = attr.NewReader(c.conn)
	c.announced = false
	c.opened = c.opts.Now()
	c.lastUsed = c.opened
	if c.opts.Announce != AnnounceRequired {
		return nil
	}
	if err := c.receiveAnnouncement(deadline); err != nil {
		c.drop()
		return fmt.Errorf("receive %s initial response: %w", c.path, err)
	}
	return nil
}

func (c *Client) receiveAnnouncement(deadline time.Time) error {
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return err
	}
	l, err := c.rd.ReadList()
	if err != nil {
		return err
	}
	return c.checkAnnouncement(l)
}

// readAnnouncement consumes a pending announcement (AnnounceAuto).
func (c *Client) readAnnouncement(deadline time.Time) bool {
	return c.receiveAnnouncement(deadline) == nil
}

// readable reports whether the server sent something unasked (or closed the
// connection): then the connection is not usable for a request.
func (c *Client) readable() bool {
	if c.rd.Buffered() > 0 {
		return true
	}
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return true
	}
	ready := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ready = n > 0 || rerr == nil || (rerr != syscall.EAGAIN && rerr != syscall.EINTR)
		return true
	})
	return ready || err != nil
}

func (c *Client) drop() {
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn, c.rd, c.announced = nil, nil, false
}

// armIdle (re)starts the timer that closes the connection after IdleLimit
// without a request.
func (c *Client) armIdle() {
	if c.idle != nil {
		c.idle.Stop()
	}
	gen := c.uses
	c.idle = time.AfterFunc(c.opts.IdleLimit, func() {
		select {
		case c.sem <- struct{}{}:
		default:
			return // busy: the request in progress re-arms the timer
		}
		if c.uses == gen {
			c.drop()
		}
		c.release()
	})
}

func (c *Client) acquire(deadline time.Time) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("waiting for %s: %w", c.path, os.ErrDeadlineExceeded)
	}
}

func (c *Client) release() { <-c.sem }

func (c *Client) warnf(format string, a ...any) {
	if c.opts.Log != nil {
		c.opts.Log.Warnf(format, a...)
	}
}
