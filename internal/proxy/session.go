package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/park"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// Request flag bits (TLS_PROXY_FLAG_* in Postfix, the same in every version).
const (
	FlagRoleServer  = 1 // tlsproxy is the TLS server (postscreen)
	FlagRoleClient  = 2 // tlsproxy is the TLS client (smtp connection reuse)
	FlagSendContext = 4 // send the TLS context list after the handshake
	FlagProbe       = 8 // 3.12 snapshots: only ask whether the role is available
)

// Fixed limits of Postfix's tlsproxy (tlsproxy.c, 3.7).
const (
	initTimeout   = 100 * time.Second // wait for the request, the fd, or the close after status 0
	ioTimeout     = 5 * time.Second   // one attribute list write
	sessionSlack  = 10 * time.Second  // added to the second (session) timeout
	defaultWait   = 300 * time.Second // used when a client sends a timeout of 0
	relayBufBytes = 16 << 10          // one TLS record of plaintext
)

// announcement is the 3.6+ "server speaks first" list.
var announcement = attr.AppendList(nil, attr.List{attr.Str("protocol", "tlsproxy_protocol")})

// Logger is what a session needs from the process logger (maillog.Logger).
type Logger interface {
	Infof(format string, a ...any)
	Warnf(format string, a ...any)
}

// Server holds what every session of a process shares. Its fields are set
// before the first session and not changed afterwards.
type Server struct {
	// TLS is the server role prepared before the jail. Nil, or not
	// Enabled, means every server-role request gets status 0.
	TLS *tlspolicy.Server
	// Client is the client role prepared before the jail from
	// tlsproxy_client_*; nil when that failed (requests then get a
	// context made after the jail, see NewClient) or the role is off.
	Client *tlsclient.Client
	// ClientInit are our client settings as TLS_CLIENT_INIT_PROPS, by
	// name, the way Postfix's pre-jail client context has them; nil means
	// the client role is disabled by configuration (status 0).
	ClientInit map[string]string
	// NewClient makes a client context after the jail from the files a
	// request names (by TLS_CLIENT_INIT_PROPS name), for requests naming
	// other files than ClientInit, or when Client is nil (clientinit.go);
	// nil: such requests get status 0.
	NewClient          func(files map[string]string) (*tlsclient.Client, error)
	requestClients     sync.Map // file settings → *tlsclient.Client
	requestClientCount atomic.Int32
	initSeen           sync.Map // init props lists other than ours seen
	initSeenCount      atomic.Int32
	// Tickets, when set, issues and opens TLS session tickets with keys
	// from tlsmgr(8); TicketScope names the server policy in force. The
	// scope of a session is its serverid plus TicketScope.
	Tickets     *tlsmgr.Tickets
	TicketScope string
	// Log receives Postfix-style log lines.
	Log Logger
	// Pat, when set, is called whenever a session makes progress.
	Pat func()
	// InitTimeout bounds the wait for the request, for the fd and for
	// the close after status 0 (Postfix: 100 s); zero means that.
	InitTimeout time.Duration
	// Generations says which Postfix versions to expect; nil: 3.6+.
	Generations *Generations
	// Service is the master.cf service name, the serverid of 2.8
	// clients (which send none); "" means "tlsproxy".
	Service string
	// SessionSlack is added to the request's session timeout to get
	// the relay's inactivity limit (Postfix: 10 s); zero means that.
	SessionSlack time.Duration
	// ParkAfter is how long a relay direction waits for input with a
	// goroutine before it parks in Poller (no goroutine, no buffer);
	// zero means 1 s, a negative value never parks.
	ParkAfter time.Duration
	// Poller parks idle relay directions; nil means a process-wide one.
	Poller *park.Poller
}

func (s *Server) service() string {
	if s.Service != "" {
		return s.Service
	}
	return "tlsproxy"
}

func (s *Server) initTimeout() time.Duration {
	if s.InitTimeout > 0 {
		return s.InitTimeout
	}
	return initTimeout
}

// session is the state of one plaintext client connection.
type session struct {
	srv      *Server
	plain    *streamConn
	rd       *attr.Reader
	endpoint string        // remote_endpoint of the request, "" until read
	serverid string        // serverid of the request
	flags    int           // request flags
	hsWait   time.Duration // handshake limit (first timeout)
	idleWait time.Duration // relay inactivity limit (second timeout + 10 s)
	remote   net.Conn      // the passed remote socket, once received
	tconn    *tls.Conn
	client   *tlsclient.Client // the client role's context for this request
	shaken   bool              // handshake completed

	announced bool                 // we sent the 3.6+ announcement
	gen       pfversion.Generation // the client's generation
	props     *props               // the second list, when there was one

	atEnd    []func() // log records for the end of the session, last first
	relaying bool     // the relay owns the session's end
	done     func()   // told when the session has ended
}

// Serve runs one plaintext client connection to its end and closes it.
// It never panics: a bug in one session is logged and ends only that
// session.
func (s *Server) Serve(ctx context.Context, c Conn) {
	ended := make(chan struct{})
	s.Start(ctx, c, func() { close(ended) })
	<-ended
}

// Start runs one plaintext client connection up to its relay, which goes on
// without this goroutine, and returns; done is called once the session has
// ended and its sockets are closed. A bug in one session is logged and
// ends only that session.
func (s *Server) Start(ctx context.Context, c Conn, done func()) {
	plain, err := newUnixConn(c)
	if err != nil {
		s.Log.Warnf("plaintext connection: %v", err)
		_ = c.Close()
		done()
		return
	}
	ss := &session{srv: s, plain: plain, rd: attr.NewReader(plain), done: done}
	defer func() {
		p := recover()
		if ss.relaying {
			return // the relay started, and ends the session
		}
		ss.runAtEnd()
		if p != nil {
			s.Log.Warnf("session for %s ended by internal error: %v\n%s", ss.endpoint, p, debug.Stack())
		}
		ss.close()
		ss.done()
	}()
	ss.run(ctx)
}

// onEnd adds a log record for the end of the session; they run in reverse
// order, like deferred calls.
func (ss *session) onEnd(f func()) { ss.atEnd = append(ss.atEnd, f) }

func (ss *session) runAtEnd() {
	for i := len(ss.atEnd) - 1; i >= 0; i-- {
		ss.atEnd[i]()
	}
	ss.atEnd = nil
}

// end finishes a session whose relay ran: its end-of-session records,
// then the sockets, then the caller of Start.
func (ss *session) end() {
	defer ss.done()
	defer ss.close()
	defer func() {
		if p := recover(); p != nil {
			ss.srv.Log.Warnf("session for %s ended by internal error: %v\n%s", ss.endpoint, p, debug.Stack())
		}
	}()
	ss.runAtEnd()
}

func (ss *session) run(ctx context.Context) {
	log := ss.srv.Log
	ss.announced = ss.shouldAnnounce()
	if ss.announced {
		if err := ss.announce(); err != nil {
			log.Warnf("write protocol attribute: %v", err)
			return
		}
	}
	if err := ss.readRequest(); err != nil {
		ss.requestProblem("receive request attributes", err)
		return
	}
	old := ss.gen <= pfversion.G2 // 2.8 – 3.3 log and time out differently
	role := ss.flags & (FlagRoleServer | FlagRoleClient)
	if old {
		role &= FlagRoleServer // only the server role existed
	}
	probe := ss.announced && ss.flags&FlagProbe != 0

	// The second list, sent in the same write as the first.
	switch {
	case role == FlagRoleClient:
		if !ss.readProps(parseClientProps, "client") {
			return
		}
	case role == FlagRoleServer && ss.announced && !probe && ss.moreQueued(ss.g5Wait()):
		if !ss.readProps(parseServerProps, "server") {
			return
		}
		ss.gen = pfversion.G5
	}

	ready := false
	var refusal string
	switch role {
	case FlagRoleServer:
		ready = ss.srv.TLS != nil && ss.srv.TLS.Enabled
	case FlagRoleClient:
		ready = ss.srv.ClientInit != nil
		if !ready {
			refusal = "TLS client role is disabled by configuration"
		}
	default:
		refusal = fmt.Sprintf("tlsp_get_request_event: bad request flags: 0x%x", ss.flags)
	}
	if !old || ready {
		// 2.8 – 3.3 log CONNECT/DISCONNECT only for sessions they serve.
		switch role {
		case FlagRoleServer:
			log.Infof("CONNECT from %s", ss.endpoint)
		case FlagRoleClient:
			log.Infof("CONNECT to %s", ss.endpoint)
		default:
			log.Infof("CONNECT (bogus_direction) %s", ss.endpoint)
		}
		ss.onEnd(func() { log.Infof("DISCONNECT %s", ss.endpoint) })
	}
	if refusal != "" {
		log.Warnf("%s", refusal)
	}
	if role == FlagRoleClient && ready {
		// After CONNECT, as Postfix logs it.
		ss.client = ss.srv.clientFor(ss.props)
		ready = ss.client != nil
	}
	if !old && !probe {
		ss.onEnd(func() {
			// 3.4+ log this whenever a session that got as far as
			// a request ends before its handshake completed.
			if !ss.shaken {
				log.Infof("TLS handshake failed for service=%s peer=%s", ss.serverid, ss.endpoint)
			}
		})
	}
	if err := ss.writeList(attr.List{attr.Int("status", b2i(ready))}); err != nil {
		log.Warnf("tlsp_get_request_event: send status: %v", describe(err))
		return
	}
	if !ready || probe {
		ss.waitClose()
		return
	}

	if err := ss.receiveFD(); err != nil {
		log.Warnf("tlsp_get_fd_event: receive remote SMTP peer file descriptor: %v", describe(err))
		return
	}
	var ctxAttrs []tlspolicy.NameValue
	if role == FlagRoleClient {
		ctxAttrs = ss.startClient(ctx)
	} else {
		ctxAttrs = ss.startServer(ctx)
	}
	if ctxAttrs == nil {
		return
	}
	if ss.flags&FlagSendContext != 0 {
		if err := ss.writeList(shapeContext(ctxAttrs, ss.contextLen())); err != nil {
			log.Warnf("cannot send TLS context: %v", describe(err))
			return
		}
	}
	ss.relay()
}

// startServer runs the server-role handshake and logs it; it returns the
// TLS context, or nil when the session ends here.
func (ss *session) startServer(ctx context.Context) []tlspolicy.NameValue {
	log := ss.srv.Log
	mask := ss.srv.TLS.LogMask
	verbose := mask&tlspolicy.LogVerbose != 0
	if verbose {
		log.Infof("setting up TLS connection from %s", ss.endpoint)
		if cl := ss.srv.TLS.CipherList; cl != "" {
			log.Infof("%s: TLS cipher list \"%s\"", ss.endpoint, cl)
		}
	}
	cfg, served := ss.srv.TLS.SessionConfig()
	if verbose && ss.srv.TLS.AskCert {
		// OpenSSL's verify callback lines, when the client's
		// certificate arrives (not on resumption: no certificate is sent).
		check := cfg.VerifyConnection // the protocol list's, if any
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if !cs.DidResume {
				for _, l := range ss.srv.TLS.VerifyTrace(cs.PeerCertificates, time.Now()) {
					log.Infof("%s: %s", ss.endpoint, l)
				}
			}
			if check != nil {
				return check(cs)
			}
			return nil
		}
	}
	if ss.srv.Tickets != nil {
		var logf func(string, ...any)
		if mask&tlspolicy.LogCache != 0 {
			logf = func(format string, a ...any) { log.Infof("%s: %s", ss.endpoint, fmt.Sprintf(format, a...)) }
		}
		ss.srv.Tickets.Install(cfg, ss.serverid+"|"+ss.srv.TicketScope, logf)
	}
	ss.tconn = tls.Server(ss.remote, cfg)
	if err := ss.handshake(ctx); err != nil {
		ss.handshakeProblem(err)
		return nil
	}
	ss.shaken = true
	cs := ss.tconn.ConnectionState()
	if cs.DidResume && mask&tlspolicy.LogCache != 0 {
		suffix := ""
		if ss.srv.Tickets != nil && ss.srv.Tickets.Mode() == tlsmgr.ModeStateless {
			suffix = " (RFC 5077 session ticket)"
		}
		log.Infof("%s: Reusing old session%s", ss.endpoint, suffix)
	}
	info := tlspolicy.ServerInfo(cs, ss.srv.TLS, served())
	if len(cs.PeerCertificates) > 0 {
		if verbose {
			log.Infof("subject=%s", tlspolicy.OneLine(cs.PeerCertificates[0].Subject))
			log.Infof("issuer=%s", tlspolicy.OneLine(cs.PeerCertificates[0].Issuer))
		}
		if mask&(tlspolicy.LogPeerCert|tlspolicy.LogVerbose) != 0 {
			log.Infof("%s", info.PeerCertLine(ss.endpoint))
		}
	}
	if mask&tlspolicy.LogUntrusted != 0 {
		if line := info.UntrustedLine(ss.endpoint); line != "" {
			log.Infof("%s", line)
		}
	}
	if mask&tlspolicy.LogSummary != 0 {
		log.Infof("%s", info.Summary("from", ss.endpoint))
	}
	return info.Context(ss.endpoint)
}

// startClient runs the client-role handshake with the request's TLS
// properties. Like Postfix's tlsproxy it completes the handshake even when
// the peer fails verification and only reports that (peer_status, level):
// smtp(8) decides whether to defer the mail.
func (ss *session) startClient(ctx context.Context) []tlspolicy.NameValue {
	log := ss.srv.Log
	st := ss.props.clientStart()
	sess, err := ss.client.NewSession(st, log)
	if err != nil {
		return nil // NewSession logged why
	}
	ss.tconn = tls.Client(ss.remote, sess.Config())
	if err := ss.handshake(ctx); err != nil {
		ss.handshakeProblem(err)
		return nil
	}
	ss.shaken = true
	res := sess.Evaluate(ss.tconn.ConnectionState())
	return res.Info.Context(st.NamAddr)
}

// readProps reads the second request list with parse; on failure it logs
// Postfix's warnings ("receive client TLS settings: …") and returns false.
func (ss *session) readProps(parse func(attr.List) (*props, error), role string) bool {
	err := ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout()))
	var l attr.List
	if err == nil {
		l, err = ss.rd.ReadList()
	}
	if err == nil {
		ss.props, err = parse(l)
	}
	if err != nil {
		ss.requestProblem("receive "+role+" TLS settings", err)
		return false
	}
	return true
}

// requestProblem logs a bad request the way Postfix does: the attribute
// scanner's own warning first, when there is one, then the step's.
func (ss *session) requestProblem(step string, err error) {
	var se *attr.ScanError
	if errors.As(err, &se) {
		ss.srv.Log.Warnf("%s", se.Error())
	}
	ss.srv.Log.Warnf("tlsp_get_request_event: %s: %v", step, describe(err))
}

// g5Wait is how long to look for a server-role second list that is not
// already queued: only when G5 clients are expected.
func (ss *session) g5Wait() time.Duration {
	if ss.srv.Generations.expectGen() == pfversion.G5 {
		return g5Wait
	}
	return 0
}

// contextLen is the length of the context reply this client reads.
func (ss *session) contextLen() int {
	var expect pfversion.Version
	if g := ss.srv.Generations; g != nil {
		expect = g.Expect
	}
	switch {
	case ss.props != nil && ss.flags&FlagRoleClient != 0:
		return ss.props.contextLen(ss.announced)
	case ss.gen == pfversion.G5:
		if ss.props != nil && ss.props.trace {
			return 26
		}
		return 25
	case ss.gen == pfversion.G4:
		if expect.Major != 0 && expect.Generation() == pfversion.G4 {
			return expect.ContextLen()
		}
		return 22
	case ss.gen == pfversion.G3:
		return 21
	case ss.gen == pfversion.G2:
		if expect.Major != 0 && expect.Generation() == pfversion.G2 {
			return expect.ContextLen()
		}
		return 21
	}
	return 9
}

// shapeContext lays the 3.6 context attributes out in the shape of an
// n-attribute reply; attributes that 3.6 does not have (raw public keys,
// TLSRPT, trace budget) are 0.
func shapeContext(ctx []tlspolicy.NameValue, n int) attr.List {
	values := make(map[string]string, len(ctx))
	for _, nv := range ctx {
		values[nv.Name] = nv.Value
	}
	var l attr.List
	for _, name := range pfversion.ContextNames(n) {
		v, ok := values[name]
		if !ok {
			v = "0"
		}
		l = append(l, attr.Str(name, v))
	}
	return l
}

// announce writes the 3.6+ protocol announcement.
func (ss *session) announce() error {
	if err := ss.plain.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	_, err := ss.plain.Write(announcement)
	return err
}

// readRequest reads the first request list and tells the generations
// apart by its names: G1 (2.8) remote_endpoint, flags, timeout; G2 (2.9 –
// 3.3) the same plus server_id; G3 and later remote_endpoint, flags,
// timeout (handshake), timeout (session), serverid. After an announcement
// only the last shape is valid, and its error text is the one Postfix 3.x
// gives for any other.
func (ss *session) readRequest() error {
	if err := ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout())); err != nil {
		return err
	}
	l, err := ss.rd.ReadList()
	if err != nil {
		return err
	}
	modern := l.Expect("plaintext", "remote_endpoint", "flags", "timeout", "timeout", "serverid")
	cur := l.Cursor("plaintext")
	switch {
	case modern == nil:
		ss.gen = pfversion.G3
		if ss.announced {
			ss.gen = pfversion.G4 // or G5, once a second list shows up
		}
	case ss.announced:
		return modern
	case l.Expect("plaintext", "remote_endpoint", "flags", "timeout", "server_id") == nil:
		ss.gen = pfversion.G2
	case l.Expect("plaintext", "remote_endpoint", "flags", "timeout") == nil:
		ss.gen = pfversion.G1
	default:
		return modern
	}
	ss.endpoint, _ = cur.Next("remote_endpoint")
	if ss.flags, err = cur.NextInt("flags"); err != nil {
		return err
	}
	hs, err := cur.NextInt("timeout")
	if err != nil {
		return err
	}
	slack := ss.srv.SessionSlack
	if slack == 0 {
		slack = sessionSlack
	}
	if ss.gen <= pfversion.G2 {
		// One timeout, plus 10 s, for every wait (2.8 – 3.3).
		ss.hsWait = seconds(hs) + slack
		ss.idleWait = ss.hsWait
		ss.serverid = ss.srv.service() // 2.8 used its own service name
		if ss.gen == pfversion.G2 {
			ss.serverid, _ = cur.Next("server_id")
		}
		return nil
	}
	idle, err := cur.NextInt("timeout")
	if err != nil {
		return err
	}
	ss.serverid, _ = cur.Next("serverid")
	ss.hsWait = seconds(hs)
	ss.idleWait = seconds(idle) + slack
	return nil
}

// seconds turns a request timeout into a duration; a client that sends 0
// or a negative number gets Postfix's usual 300 s rather than no limit.
func seconds(n int) time.Duration {
	if n <= 0 {
		return defaultWait
	}
	return time.Duration(n) * time.Second
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeList writes one attribute list with the per-write time limit.
func (ss *session) writeList(l attr.List) error {
	if err := ss.plain.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	_, err := ss.plain.Write(attr.AppendList(nil, l))
	return err
}

// waitClose waits (bounded) for the client to close after status 0,
// discarding anything it sends.
func (ss *session) waitClose() {
	if ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout())) != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(ss.plain, 1<<20))
}

// receiveFD takes the remote socket from the client. The client sends it
// only after reading the status, so nothing may be buffered here: a byte
// already read into our buffer would be the dummy byte whose descriptor
// was lost.
func (ss *session) receiveFD() error {
	if n := ss.rd.Buffered(); n > 0 {
		return fmt.Errorf("%d unexpected bytes before the file descriptor", n)
	}
	if err := ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout())); err != nil {
		return err
	}
	f, err := fdpass.Recv(ss.plain)
	if err != nil {
		return err
	}
	c, err := newSockConn(f)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("passed descriptor is not a usable socket: %w", err)
	}
	ss.remote = c
	return nil
}

// handshake runs the TLS handshake on the remote socket, bounded by the
// request's first timeout. The bound is a deadline on the socket rather
// than a context: crypto/tls watches a cancellable context with a goroutine
// of its own, one more per handshake. ctx only ends the handshake early
// when it is already done.
func (ss *session) handshake(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ss.remote.SetDeadline(time.Now().Add(ss.hsWait)); err != nil {
		return err
	}
	if err := ss.tconn.Handshake(); err != nil {
		return err
	}
	return ss.remote.SetDeadline(time.Time{})
}

// handshakeProblem logs why a handshake failed, as Postfix does: a TLS
// error as a library problem, the time limit as a ciphertext timeout, and
// nothing for a peer that just went away ("TLS handshake failed" follows).
func (ss *session) handshakeProblem(err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		ss.srv.Log.Warnf("ciphertext read/write timeout for %s", ss.endpoint)
	case !quietEnd(err):
		ss.srv.Log.Warnf("TLS library problem: %v", err)
	}
}

// close releases both sockets; it runs once, on every path.
func (ss *session) close() {
	if ss.remote != nil {
		_ = ss.remote.Close()
	}
	_ = ss.plain.Close()
}

// describe turns an I/O error into the short text Postfix-style warnings
// carry (Postfix prints strerror(errno)).
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end-of-input"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

// quietEnd reports whether a handshake error is just the peer going away
// (or the time limit), which Postfix does not report as a library problem.
func quietEnd(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout())
}
