package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/logs"
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
	// ServerInit are our server settings as TLS_SERVER_INIT_PROPS (3.12),
	// by name; NewServer makes a server context from a 3.12 request's
	// other ones after the jail (serverinit.go); nil: such requests get
	// status 0.
	ServerInit          map[string]string
	NewServer           func(init map[string]string) *tlspolicy.Server
	requestServers      sync.Map // init props → *tlspolicy.Server
	requestServerCount  atomic.Int32
	serverInitSeen      sync.Map
	serverInitSeenCount atomic.Int32
	// Params are our global tls_* settings as TLS_CLIENT_PARAMS and
	// TLS_SERVER_PARAMS have them (by attribute name): a request that
	// sends others is warned about (paramsmatch.go); nil: no check.
	Params          map[string]string
	paramsSeen      sync.Map // params lists seen
	paramsSeenCount atomic.Int32
	// Tickets, when set, issues and opens TLS session tickets with keys
	// from tlsmgr(8); TicketScope names the server policy in force. The
	// scope of a session is its serverid plus TicketScope.
	Tickets     *tlsmgr.Tickets
	TicketScope string
	// Log receives Postfix-style log lines.
	Log logs.Logger
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
	// zero means 250 ms, a negative value never parks.
	ParkAfter time.Duration
	// Poller parks idle relay directions; nil means a process-wide one.
	Poller *park.Poller

	// onProgress, when set (by tests only), is called whenever a relay
	// moves bytes: the place to inject a fault into a running session.
	onProgress func()
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
	srv   *Server
	plain *streamConn
	rd    *attr.Reader
	done  func() // told when the session has ended

	// From the request (request.go).
	announced bool                 // we sent the 3.6+ announcement
	gen       pfversion.Generation // the client's generation
	endpoint  string               // remote_endpoint of the request, "" until read
	serverid  string               // serverid of the request
	flags     int                  // request flags
	role      int                  // FlagRoleServer, FlagRoleClient, or neither (bogus)
	tlsSrv    *tlspolicy.Server    // server role: the context in use (serverinit.go)
	probe     bool                 // a 3.12 probe: status only
	hsWait    time.Duration        // handshake limit (first timeout)
	idleWait  time.Duration        // relay inactivity limit (second timeout + 10 s)
	props     *props               // the second list, when there was one
	ready     bool                 // the status we reply: the role is available
	client    *tlsclient.Client    // the client role's context for this request

	// From the hand-over and the handshake (handshake.go).
	remote   net.Conn // the passed remote socket, once received
	tconn    *tls.Conn
	watch    *tlspolicy.AlertWatch // the server role's records, during the handshake
	tlsAttrs []tlspolicy.NameValue // the TLS context, once shaken
	shaken   bool                  // handshake completed

	// What free logs at the end.
	connected  bool   // "CONNECT" was logged: "DISCONNECT" ends the session
	hsReported bool   // a 3.4+ request: "TLS handshake failed" unless shaken
	fault      string // an internal error (a panic) that ended the session
	relaying   bool   // the relay owns the session's end (relay.go)
}

// Serve runs one plaintext client connection to its end and closes it.
// It never panics: a bug in one session is logged and ends only that
// session.
func (s *Server) Serve(c Conn) {
	ended := make(chan struct{})
	s.Start(c, func() { close(ended) })
	<-ended
}

// Start runs one plaintext client connection up to its relay, which goes on
// without this goroutine, and returns; done is called once the session has
// ended and its sockets are closed. A bug in one session is logged and
// ends only that session.
func (s *Server) Start(c Conn, done func()) {
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
		if p != nil {
			ss.fault = fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
		ss.free()
		ss.rd.Release()
	}()
	ss.run()
}

// run takes the session through its steps, in the order Postfix's
// tlsproxy runs them (see doc.go). Each step logs its own failure and
// returns false when the session ends there; the steps follow in this
// file order in request.go, handshake.go and context.go. The last step,
// the relay, goes on without this goroutine (relay.go).
func (ss *session) run() {
	steps := [...]func(*session) bool{
		(*session).announce,       // request.go: 3.6+ "protocol" list
		(*session).readRequest,    // the first list: endpoint, flags, timeouts
		(*session).readSecondList, // client-role or G5 server-role properties
		(*session).checkRole,      // CONNECT, the client context, the status to send
		(*session).sendStatus,     // status 1, or status 0 and wait for the close
		(*session).receiveFD,      // handshake.go: the remote SMTP peer's socket
		(*session).handshake,      // TLS on that socket, logged as Postfix does
		(*session).sendContext,    // context.go: the TLS context, when asked for
		(*session).relay,          // relay.go: both ways until one side ends
	}
	for _, step := range steps {
		if !step(ss) {
			return
		}
	}
}

// free ends the session, on every path: the last log lines, from what the
// session got to, then both sockets, then the caller of Start. The
// relay's last direction calls it, or Start when the relay never began.
func (ss *session) free() {
	defer ss.done()
	defer ss.close()
	defer func() {
		if p := recover(); p != nil {
			ss.srv.Log.Warnf("session for %s ended by internal error: %v\n%s", ss.endpoint, p, debug.Stack())
		}
	}()
	log := ss.srv.Log
	if ss.hsReported && !ss.shaken {
		// 3.4+ log this whenever a session that got as far as a
		// request ends before its handshake completed.
		log.Infof("TLS handshake failed for service=%s peer=%s", ss.serverid, ss.endpoint)
	}
	if ss.connected {
		log.Infof("DISCONNECT %s", ss.endpoint)
	}
	if ss.fault != "" {
		log.Warnf("session for %s ended by internal error: %s", ss.endpoint, ss.fault)
	}
}

// close releases both sockets; free runs it once, on every path.
func (ss *session) close() {
	if ss.remote != nil {
		_ = ss.remote.Close()
	}
	_ = ss.plain.Close()
}
