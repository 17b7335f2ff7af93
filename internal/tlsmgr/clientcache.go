package tlsmgr

import (
	"crypto/tls"
	"errors"
	"time"

	"tlsproxy/internal/logs"
)

// ClientCacheOptions configure a ClientCache.
type ClientCacheOptions struct {
	// CacheType is tlsmgr's cache for these sessions (default CacheSMTP).
	CacheType string
	// Lifetime is the cache timeout from Policy(CacheType)
	// (smtp_ or lmtp_tls_session_cache_timeout): older sessions are not
	// resumed.
	Lifetime time.Duration
	// Backoff: after a failed request, tlsmgr is not asked again for this
	// long (default DefaultBackoff). "Not found" does not count.
	Backoff time.Duration
	// Log, if set, receives warnings about failed cache requests.
	Log logs.Logger
	// Now, if set, replaces time.Now (tests).
	Now func() time.Time
}

// ClientCache keeps the client role's TLS sessions in tlsmgr's smtp or lmtp
// cache (when smtp_ or lmtp_tls_session_cache_database is set), so that a
// session made by one tlsproxy process resumes in another, as that cache lets
// any smtp(8) or tlsproxy process resume it. Entries are our own format
// (cache.go) under ClientCacheID, never read by Postfix's smtp. It is
// safe for concurrent use.
type ClientCache struct {
	store Store
	opts  ClientCacheOptions

	tlsmgrDown backoff
}

// NewClientCache returns a ClientCache over store (normally the *Client).
func NewClientCache(store Store, opts ClientCacheOptions) *ClientCache {
	if opts.CacheType == "" {
		opts.CacheType = CacheSMTP
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ClientCache{store: store, opts: opts}
}

// Scoped returns the tls.ClientSessionCache for one session's destination
// and policy: serverid (the request's, as Postfix's client cache id starts)
// and scope (anything else that must match for a resumption) go into the
// cache id with crypto/tls's own key. log, when not nil, receives hits,
// misses and saves as Infof (verbose logging).
func (c *ClientCache) Scoped(serverid, scope string, log logs.Logger) tls.ClientSessionCache {
	return &clientScope{c: c, serverid: serverid, scope: scope, logger: log}
}

type clientScope struct {
	c               *ClientCache
	serverid, scope string
	logger          logs.Logger
}

func (s *clientScope) log(format string, a ...any) {
	if s.logger != nil {
		s.logger.Infof(format, a...)
	}
}

// Get implements tls.ClientSessionCache: a miss or any problem is (nil,
// false), a full handshake.
func (s *clientScope) Get(key string) (*tls.ClientSessionState, bool) {
	c, ct := s.c, s.c.opts.CacheType
	now := c.opts.Now()
	id := ClientCacheID(s.serverid, s.scope, key)
	if c.tlsmgrDown.down(now) {
		s.log("%s session cache: tlsmgr unavailable, no session looked up for %s: full handshake", ct, s.serverid)
		return nil, false
	}
	b, err := c.store.Lookup(ct, id)
	switch {
	case errors.Is(err, ErrNotFound):
		s.log("%s session cache: no session for %s: full handshake", ct, s.serverid)
		return nil, false
	case err != nil:
		c.failed(now, "lookup", err)
		s.log("%s session cache: lookup for %s failed: full handshake", ct, s.serverid)
		return nil, false
	}
	e, err := parseClientEntry(b)
	var cs *tls.ClientSessionState
	if err == nil {
		var ss *tls.SessionState
		if ss, err = tls.ParseSessionState(e.state); err == nil {
			cs, err = tls.NewResumptionState(e.ticket, ss)
		}
	}
	switch {
	case err != nil:
		s.log("%s session cache: unusable entry for %s (%v): deleted, full handshake", ct, s.serverid, err)
		c.delete(now, id)
		return nil, false
	case expired(e.issued, now, c.opts.Lifetime):
		s.log("%s session cache: session for %s has expired: deleted, full handshake", ct, s.serverid)
		c.delete(now, id)
		return nil, false
	}
	s.log("%s session cache: found a session for %s, trying to resume it", ct, s.serverid)
	return cs, true
}

// Put implements tls.ClientSessionCache; a nil cs deletes the entry.
func (s *clientScope) Put(key string, cs *tls.ClientSessionState) {
	c, ct := s.c, s.c.opts.CacheType
	now := c.opts.Now()
	id := ClientCacheID(s.serverid, s.scope, key)
	if c.tlsmgrDown.down(now) {
		return
	}
	if cs == nil {
		c.delete(now, id)
		s.log("%s session cache: session for %s removed", ct, s.serverid)
		return
	}
	ticket, ss, err := cs.ResumptionState()
	var state, entry []byte
	if err == nil && ss != nil {
		state, err = ss.Bytes()
	}
	if err == nil {
		entry, err = clientEntry{issued: now, ticket: ticket, state: state}.append(nil)
	}
	if err != nil {
		s.log("%s session cache: not saving the session for %s: %v", ct, s.serverid, err)
		return
	}
	if err := c.store.Update(ct, id, entry); err != nil {
		c.failed(now, "update", err)
		return
	}
	s.log("%s session cache: saved the session for %s", ct, s.serverid)
}

func (c *ClientCache) delete(now time.Time, id string) {
	if err := c.store.Delete(c.opts.CacheType, id); err != nil && !errors.Is(err, ErrNotFound) {
		c.failed(now, "delete", err)
	}
}

func (c *ClientCache) failed(now time.Time, request string, err error) {
	c.tlsmgrDown.failed(now, c.opts.Backoff)
	if c.opts.Log != nil {
		c.opts.Log.Warnf("%s session cache %s: %v", c.opts.CacheType, request, err)
	}
}
