package tlsmgr

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"time"
)

// Stateful tickets (TicketOptions.Cache set). Go's crypto/tls server has no
// session-id resumption, so the only way into a server-side session cache
// is the ticket: like OpenSSL with tickets off and a session cache on
// (TLS 1.3 "stateful tickets"), the ticket is just a random identity and
// the session itself is kept in tlsmgr's smtpd cache, shared by every
// tlsproxy process. Every problem (tlsmgr down, entry missing, expired,
// unreadable, other scope, refused) means a full handshake, never an
// aborted one; expired and unreadable entries are deleted.

// identitySize is the length of a stateful ticket (OpenSSL's maximum
// session id length).
const identitySize = 32

// wrapStateful stores ss in the smtpd cache and returns its identity. The
// identity is returned even when the update failed: it then never resumes.
func (t *Tickets) wrapStateful(scope string, cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	state, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	identity := make([]byte, identitySize)
	rand.Read(identity)
	now := t.opts.Now()
	id := ServerCacheID(identity, serverIDOf(scope))
	entry, err := serverEntry{
		info:  SessionInfo{ClientCert: len(cs.PeerCertificates) > 0, Issued: now},
		scope: scope,
		state: state,
	}.append(nil)
	if err != nil {
		t.logf("smtpd session cache: not saving session %s: %v", id, err)
		return identity, nil
	}
	if t.tlsmgrDown.down(now) {
		t.logf("smtpd session cache: tlsmgr unavailable, session %s not saved", id)
		return identity, nil
	}
	if err := t.opts.Cache.Update(CacheSMTPD, id, entry); err != nil {
		t.cacheFailed(now, "update", err)
		t.logf("smtpd session cache: could not save session %s: %v", id, err)
		return identity, nil
	}
	t.logf("smtpd session cache: saved session %s", id)
	return identity, nil
}

// unwrapStateful looks identity up in the smtpd cache; nil means a full
// handshake.
func (t *Tickets) unwrapStateful(scope string, identity []byte, cs tls.ConnectionState) *tls.SessionState {
	if len(identity) != identitySize {
		return nil // e.g. a stateless ticket from before a reconfiguration
	}
	now := t.opts.Now()
	id := ServerCacheID(identity, serverIDOf(scope))
	if t.tlsmgrDown.down(now) {
		t.logf("smtpd session cache: tlsmgr unavailable, session %s not looked up: full handshake", id)
		return nil
	}
	b, err := t.opts.Cache.Lookup(CacheSMTPD, id)
	switch {
	case errors.Is(err, ErrNotFound):
		t.logf("smtpd session cache: session %s not found: full handshake", id)
		return nil
	case err != nil:
		t.cacheFailed(now, "lookup", err)
		t.logf("smtpd session cache: lookup of session %s failed: full handshake", id)
		return nil
	}
	e, err := parseServerEntry(b)
	var ss *tls.SessionState
	if err == nil {
		ss, err = tls.ParseSessionState(e.state)
	}
	switch {
	case err != nil:
		t.logf("smtpd session cache: unusable entry for session %s (%v): deleted, full handshake", id, err)
		t.deleteEntry(now, id)
		return nil
	case e.scope != scope:
		t.logf("smtpd session cache: session %s was made for another server or TLS policy: full handshake", id)
		return nil
	case expired(e.info.Issued, now, t.opts.Lifetime):
		t.logf("smtpd session cache: session %s has expired (made %s): deleted, full handshake",
			id, e.info.Issued.UTC().Format(time.RFC3339))
		t.deleteEntry(now, id)
		return nil
	case t.opts.Accept != nil && !t.opts.Accept(scope, cs, e.info):
		t.logf("smtpd session cache: session %s does not meet the current policy (client certificate): full handshake", id)
		return nil
	}
	t.logf("smtpd session cache: resuming session %s", id)
	return ss
}

func (t *Tickets) deleteEntry(now time.Time, id string) {
	if err := t.opts.Cache.Delete(CacheSMTPD, id); err != nil && !errors.Is(err, ErrNotFound) {
		t.cacheFailed(now, "delete", err)
	}
}

// cacheFailed warns and stops asking tlsmgr for Backoff.
func (t *Tickets) cacheFailed(now time.Time, request string, err error) {
	t.tlsmgrDown.failed(now, t.opts.Backoff)
	t.warnf("smtpd session cache %s: %v", request, err)
}
