package maillog

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tlsproxy/internal/sockio"
)

// Tuning of the socket writer. Variables, not constants, only so that
// tests can shorten them.
var (
	queueSize    = 1024                   // records waiting for the writer
	writeTimeout = 500 * time.Millisecond // per datagram
	flushTimeout = 2 * time.Second        // Fatalf/Panicf/Close wait at most this long
)

// ErrUnavailable is wrapped by the error Open returns when the log socket
// cannot be connected. The Logger returned alongside it is usable and
// writes to Options.Stderr, or to os.Stderr when that is nil.
var ErrUnavailable = errors.New("log socket unavailable")

// Options configures a Logger.
type Options struct {
	Ident      string           // "postfix/tlsproxy": syslog_name + "/" + process name (see Ident)
	Facility   string           // syslog_facility, e.g. "mail"; "" means "mail"
	Postlog    string           // postlogd socket path; non-empty means postlogd instead of syslog
	Hostname   string           // myhostname; postlog records carry its first label ("" = os.Hostname)
	SyslogPath string           // syslog socket, default "/dev/log"
	Stderr     io.Writer        // non-nil (-V): also write "ident: [severity: ]text\n" here
	Now        func() time.Time // clock, default time.Now
	Pid        int              // pid in the record header, default os.Getpid()
}

// Ident builds the log tag the way Postfix's mail_task does: the syslog
// name, a slash and the base name of argv0. syslogName is the effective
// syslog_name (main.cf plus -o overrides); when it is empty (no
// configuration read yet) the MAIL_LOGTAG environment variable that
// master exports is used, else "postfix". Postfix processes re-export
// MAIL_LOGTAG from their own syslog_name, which is why a master.cf
// "-o syslog_name=postfix/x" wins over master's value. getenv is usually
// os.Getenv.
func Ident(syslogName, argv0 string, getenv func(string) string) string {
	tag := syslogName
	if tag == "" {
		tag = getenv("MAIL_LOGTAG")
	}
	if tag == "" {
		tag = "postfix"
	}
	return tag + "/" + path.Base(argv0)
}

// datagramConn is the part of *net.UnixConn the writer uses; tests
// substitute a fake.
type datagramConn interface {
	Write(b []byte) (int, error)
	SetWriteDeadline(t time.Time) error
	Close() error
}

// item is one queued datagram. A non-nil ack is closed once the item
// (and so everything queued before it) has been handled; b may then be
// nil for a pure flush marker.
type item struct {
	b   []byte
	ack chan struct{}
}

// Logger writes Postfix-style log records. It is safe for concurrent
// use. A nil *Logger discards everything.
type Logger struct {
	ident    string
	pid      int
	now      func() time.Time
	postlog  bool
	facility int
	host     string
	verbose  atomic.Int32

	stderrMu sync.Mutex
	stderr   io.Writer // -V output or fallback, may be nil

	rec *Recorder // non-nil for NewRecorder loggers

	// Socket side; conn == nil means no socket.
	sockPath string
	dial     func(string) (datagramConn, error)
	conn     datagramConn    // written under wmu after Open
	raw      syscall.RawConn // conn's descriptor, for writeNow; nil if none
	queue    chan item
	// wmu is held around every write to conn (the writer's, and the
	// direct ones of logf); pending counts records queued and not yet
	// written, so that a direct write never overtakes one of them.
	wmu     sync.Mutex
	pending atomic.Int64
	dropped atomic.Uint64
	closed  atomic.Bool
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.Mutex
}

// Open returns a Logger and connects its socket right away, so call it
// before chroot: afterwards the socket path is usually not reachable.
// It also loads the local time zone for the same reason.
//
// An unknown Facility is an error and no Logger is returned. When the
// socket cannot be connected (for example there is no /dev/log), Open
// returns a working Logger that writes to Stderr (os.Stderr if Stderr is
// nil) together with an error wrapping ErrUnavailable; the caller may log
// that error through the Logger and carry on.
//
// If a write fails later (syslogd restarted, postlogd gone), the writer
// redials the same path once, which works outside a chroot or when the
// socket also exists inside it; otherwise it keeps the old connection,
// drops the record and counts it.
func Open(o Options) (*Logger, error) {
	l, err := newLogger(o)
	if err != nil {
		return nil, err
	}
	_, _ = time.Now().Zone() // load time.Local before any chroot
	p := o.SyslogPath
	if p == "" {
		p = "/dev/log"
	}
	if o.Postlog != "" {
		p = o.Postlog
	}
	conn, err := dialUnixgram(p)
	if err != nil {
		if l.stderr == nil {
			l.stderr = os.Stderr
		}
		return l, fmt.Errorf("%w: %w (logging to stderr only)", ErrUnavailable, err)
	}
	l.start(p, conn, dialUnixgram)
	return l, nil
}

// newLogger sets up everything except the socket.
func newLogger(o Options) (*Logger, error) {
	fac, err := ParseFacility(o.Facility)
	if err != nil {
		return nil, err
	}
	l := &Logger{
		ident:    o.Ident,
		pid:      o.Pid,
		now:      o.Now,
		postlog:  o.Postlog != "",
		facility: fac,
		host:     firstLabel(o.Hostname),
		stderr:   o.Stderr,
	}
	if l.pid == 0 {
		l.pid = os.Getpid()
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.postlog && l.host == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		l.host = firstLabel(h)
	}
	return l, nil
}

// start hands conn to a new writer goroutine.
func (l *Logger) start(p string, conn datagramConn, dial func(string) (datagramConn, error)) {
	l.sockPath, l.dial = p, dial
	l.setConn(conn)
	l.queue = make(chan item, queueSize)
	l.quit = make(chan struct{})
	l.done = make(chan struct{})
	go l.writer()
}

func dialUnixgram(p string) (datagramConn, error) {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		return nil, err // *net.OpError already names the path
	}
	return c, nil
}

// Infof logs an informational record.
func (l *Logger) Infof(format string, a ...any) { l.logf(sevInfo, format, a) }

// Warnf logs a record with the "warning: " prefix.
func (l *Logger) Warnf(format string, a ...any) { l.logf(sevWarning, format, a) }

// Errorf logs a record with the "error: " prefix.
func (l *Logger) Errorf(format string, a ...any) { l.logf(sevError, format, a) }

// Fatalf logs a record with the "fatal: " prefix and waits until it has
// been written. Unlike Postfix's msg_fatal it does not exit; the caller
// exits with status 1.
func (l *Logger) Fatalf(format string, a ...any) { l.logf(sevFatal, format, a) }

// Panicf logs a record with the "panic: " prefix and waits until it has
// been written. It neither panics nor aborts.
func (l *Logger) Panicf(format string, a ...any) { l.logf(sevPanic, format, a) }

// Debugf logs an informational record only when the verbose level is
// above zero (Postfix's "if (msg_verbose) msg_info(...)").
func (l *Logger) Debugf(format string, a ...any) {
	if l.Verbose() > 0 {
		l.logf(sevInfo, format, a)
	}
}

// Verbose returns the verbose level (the number of -v options).
func (l *Logger) Verbose() int {
	if l == nil {
		return 0
	}
	return int(l.verbose.Load())
}

// SetVerbose sets the verbose level.
func (l *Logger) SetVerbose(n int) {
	if l != nil {
		l.verbose.Store(int32(n))
	}
}

func (l *Logger) logf(sev severity, format string, a []any) {
	if l == nil {
		return
	}
	text := cleanText(fmt.Sprintf(format, a...))
	if l.rec != nil {
		l.rec.add(prefix[sev] + text)
	}
	if l.stderr != nil {
		line := stderrRecord(sev, l.ident, text)
		l.stderrMu.Lock()
		_, _ = l.stderr.Write(line) // nowhere left to report a failure
		l.stderrMu.Unlock()
	}
	if l.queue == nil || l.closed.Load() {
		return
	}
	b := l.record(sev, l.now(), text)
	if sev >= sevFatal {
		l.enqueueWait(b)
		return
	}
	if l.writeNow(b) {
		return
	}
	l.pending.Add(1)
	select {
	case l.queue <- item{b: b}:
	default:
		l.pending.Add(-1)
		l.dropped.Add(1)
	}
}

// writeNow writes b at once, in the caller's goroutine, when nothing is
// queued before it and the socket takes it without waiting: a busy
// process then logs without waking the writer goroutine for each record.
// It reports whether b was written; if not, b goes through the queue.
func (l *Logger) writeNow(b []byte) bool {
	if l.pending.Load() != 0 || !l.wmu.TryLock() {
		return false
	}
	defer l.wmu.Unlock()
	if l.raw == nil || l.pending.Load() != 0 || l.dropped.Load() != 0 || l.closed.Load() {
		return false
	}
	n, err := sockio.WriteOnce(l.raw, b) // non-blocking socket: one try
	return err == nil && n == len(b)
}

// record renders the socket datagram for this Logger's channel.
func (l *Logger) record(sev severity, t time.Time, text string) []byte {
	if l.postlog {
		return postlogRecord(l.host, sev, t, l.ident, l.pid, text)
	}
	return syslogRecord(l.facility, sev, t, l.ident, l.pid, text)
}

// enqueueWait queues b (nil: only a flush marker) and waits until the
// writer has handled it, for at most flushTimeout in total.
func (l *Logger) enqueueWait(b []byte) {
	timer := time.NewTimer(flushTimeout)
	defer timer.Stop()
	ack := make(chan struct{})
	if b != nil {
		l.pending.Add(1)
	}
	select {
	case l.queue <- item{b: b, ack: ack}:
	case <-timer.C:
		if b != nil {
			l.pending.Add(-1)
			l.dropped.Add(1)
		}
		return
	case <-l.done:
		if b != nil {
			l.pending.Add(-1)
		}
		return
	}
	select {
	case <-ack:
	case <-timer.C:
	case <-l.done:
	}
}

// Close writes what is queued (waiting at most a short time), stops the
// writer and closes the socket. Records logged after Close still go to
// Stderr but no longer to the socket. Close may be called more than once.
func (l *Logger) Close() error {
	if l == nil || l.queue == nil {
		return nil
	}
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Load() {
		return nil
	}
	l.enqueueWait(nil)
	l.closed.Store(true)
	close(l.quit)
	<-l.done // the writer returns within one writeTimeout
	return l.conn.Close()
}

// setConn makes c the socket, with its descriptor for writeNow.
func (l *Logger) setConn(c datagramConn) {
	l.conn, l.raw = c, nil
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			l.raw = rc
		}
	}
}

// writer writes the queued records; it and writeNow use l.conn only
// under wmu.
func (l *Logger) writer() {
	defer close(l.done)
	for {
		select {
		case it := <-l.queue:
			l.wmu.Lock()
			if it.b != nil {
				l.reportDrops()
				if !l.send(it.b) {
					l.dropped.Add(1)
				}
				l.pending.Add(-1)
			}
			l.wmu.Unlock()
			if it.ack != nil {
				close(it.ack)
			}
		case <-l.quit:
			return
		}
	}
}

// reportDrops writes a warning with the number of records lost since the
// last report, if any.
func (l *Logger) reportDrops() {
	n := l.dropped.Swap(0)
	if n == 0 {
		return
	}
	text := fmt.Sprintf("maillog: %d log record(s) dropped: log socket busy or unavailable", n)
	if !l.send(l.record(sevWarning, l.now(), text)) {
		l.dropped.Add(n)
	}
}

// send writes one datagram with a deadline. After an error other than a
// timeout it redials the path once and retries, so that a restarted
// syslogd is picked up where the path is still reachable.
func (l *Logger) send(b []byte) bool {
	err := l.write(b)
	if err == nil {
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || l.closed.Load() {
		return false
	}
	c, err := l.dial(l.sockPath)
	if err != nil {
		return false
	}
	_ = l.conn.Close() // the old connection is dead either way
	l.setConn(c)
	return l.write(b) == nil
}

func (l *Logger) write(b []byte) error {
	if err := l.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := l.conn.Write(b)
	return err
}
