package proxy

import (
	"errors"
	"fmt"
	"io"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
)

// The steps of a session up to the status reply, in the order run calls
// them: the announcement, the request's lists, the CONNECT line and the
// status.

// announce writes the 3.6+ protocol announcement, when this client is one
// that waits for it (generation.go decides).
func (ss *session) announce() bool {
	ss.announced = ss.shouldAnnounce()
	if !ss.announced {
		return true
	}
	err := ss.plain.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err == nil {
		_, err = ss.plain.Write(announcement)
	}
	if err != nil {
		ss.srv.Log.Warnf("write protocol attribute: %v", err)
		return false
	}
	return true
}

// readRequest reads the first request list; its names tell the client's
// generation (requestGeneration). 2.8 – 3.3 clients have one timeout,
// which bounds every wait plus 10 s, and only the server role.
func (ss *session) readRequest() bool {
	if err := ss.parseRequest(); err != nil {
		ss.requestProblem("receive request attributes", err)
		return false
	}
	ss.role = ss.flags & (FlagRoleServer | FlagRoleClient)
	if ss.old() {
		ss.role &= FlagRoleServer // only the server role existed
	}
	ss.probe = ss.announced && ss.flags&FlagProbe != 0
	return true
}

func (ss *session) parseRequest() error {
	if err := ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout())); err != nil {
		return err
	}
	l, err := ss.rd.ReadList()
	if err != nil {
		return err
	}
	if ss.gen, err = requestGeneration(l, ss.announced); err != nil {
		return err
	}
	cur := l.Cursor("plaintext")
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
	if ss.old() {
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

// old reports a 2.8 – 3.3 client, which logs and times out differently.
func (ss *session) old() bool { return ss.gen <= pfversion.G2 }

// readSecondList reads the list that follows the request in the same
// write: always for the client role, and for a server-role request of a
// G5 client (generation.go: secondListFollows).
func (ss *session) readSecondList() bool {
	switch {
	case ss.role == FlagRoleClient:
		return ss.readProps(parseClientProps, "client")
	case ss.role == FlagRoleServer && ss.secondListFollows():
		if !ss.readProps(parseServerProps, "server") {
			return false
		}
		ss.gen = pfversion.G5
	}
	return true
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

// checkRole decides the status: whether TLS in the requested role is
// available. It logs CONNECT (2.8 – 3.3: only for sessions they serve)
// and, for the client role, picks the TLS client context after it, as
// Postfix does.
func (ss *session) checkRole() bool {
	log := ss.srv.Log
	var refusal string
	switch ss.role {
	case FlagRoleServer:
		ss.ready = ss.srv.TLS != nil && ss.srv.TLS.Enabled
	case FlagRoleClient:
		ss.ready = ss.srv.ClientInit != nil
		if !ss.ready {
			refusal = "TLS client role is disabled by configuration"
		}
	default:
		refusal = fmt.Sprintf("tlsp_get_request_event: bad request flags: 0x%x", ss.flags)
	}
	if !ss.old() || ss.ready {
		switch ss.role {
		case FlagRoleServer:
			log.Infof("CONNECT from %s", ss.endpoint)
		case FlagRoleClient:
			log.Infof("CONNECT to %s", ss.endpoint)
		default:
			log.Infof("CONNECT (bogus_direction) %s", ss.endpoint)
		}
		ss.connected = true
	}
	if refusal != "" {
		log.Warnf("%s", refusal)
	}
	if ss.role == FlagRoleClient && ss.ready {
		ss.client = ss.srv.clientFor(ss.props)
		ss.ready = ss.client != nil
	}
	if ss.role == FlagRoleServer && ss.ready {
		ss.tlsSrv = ss.srv.TLS
		if ss.props != nil { // 3.12: the request's own settings
			ss.tlsSrv = ss.srv.serverFor(ss.props)
			ss.ready = ss.tlsSrv != nil
		}
	}
	ss.hsReported = !ss.old() && !ss.probe
	return true
}

// sendStatus replies status 1 and goes on, or status 0 (and a probe's
// answer) and waits, bounded, for the client to close.
func (ss *session) sendStatus() bool {
	if err := ss.writeList(attr.List{attr.Int("status", b2i(ss.ready))}); err != nil {
		ss.srv.Log.Warnf("tlsp_get_request_event: send status: %v", describe(err))
		return false
	}
	if !ss.ready || ss.probe {
		ss.waitClose()
		return false
	}
	return true
}

// waitClose waits (bounded) for the client to close after status 0,
// discarding anything it sends.
func (ss *session) waitClose() {
	if ss.plain.SetReadDeadline(time.Now().Add(ss.srv.initTimeout())) != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(ss.plain, 1<<20))
}

// writeList writes one attribute list with the per-write time limit.
func (ss *session) writeList(l attr.List) error {
	if err := ss.plain.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	_, err := ss.plain.Write(attr.AppendList(nil, l))
	return err
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
