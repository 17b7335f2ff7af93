package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"tlsproxy/internal/fdpass"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// The steps of a session after status 1, in the order run calls them: the
// remote socket, then the TLS handshake on it in the requested role.

// receiveFD takes the remote socket from the client. The client sends it
// only after reading the status, so nothing may be buffered here: a byte
// already read into our buffer would be the dummy byte whose descriptor
// was lost.
func (ss *session) receiveFD() bool {
	if err := ss.takeFD(); err != nil {
		ss.srv.Log.Warnf("tlsp_get_fd_event: receive remote SMTP peer file descriptor: %v", describe(err))
		return false
	}
	return true
}

func (ss *session) takeFD() error {
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

// handshake runs the TLS handshake in the requested role and logs it; on
// success the session holds the TLS context (tlsAttrs).
func (ss *session) handshake() bool {
	if ss.role == FlagRoleClient {
		ss.tlsAttrs = ss.clientHandshake()
	} else {
		ss.tlsAttrs = ss.serverHandshake()
	}
	return ss.tlsAttrs != nil
}

// serverHandshake runs the server-role handshake and logs it; it returns
// the TLS context, or nil when the session ends here.
func (ss *session) serverHandshake() []tlspolicy.NameValue {
	log := ss.srv.Log
	mask := ss.tlsSrv.LogMask
	verbose := mask&tlspolicy.LogVerbose != 0
	if verbose {
		log.Infof("setting up TLS connection from %s", ss.endpoint)
		if cl := ss.tlsSrv.CipherList; cl != "" {
			log.Infof("%s: TLS cipher list \"%s\"", ss.endpoint, cl)
		}
	}
	cfg, served := ss.tlsSrv.SessionConfigFor(ss.endpoint)
	// The client's chain is verified once: for the verify trace, the
	// TRUSTED bit and the untrusted-certificate line.
	var ver *tlspolicy.PeerVerification
	verified := false
	verify := func(chain []*x509.Certificate) *tlspolicy.PeerVerification {
		if !verified {
			ver, verified = ss.tlsSrv.VerifyPeer(chain, time.Now()), true
		}
		return ver
	}
	if verbose && ss.tlsSrv.AskCert {
		// OpenSSL's verify callback lines, when the client's
		// certificate arrives (not on resumption: no certificate is sent).
		check := cfg.VerifyConnection // the protocol list's, if any
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if !cs.DidResume {
				for _, l := range ss.tlsSrv.VerifyTraceOf(verify(cs.PeerCertificates), cs.PeerCertificates, time.Now()) {
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
		var cacheLog logs.Logger
		if mask&tlspolicy.LogCache != 0 {
			cacheLog = logs.Prefixed(log, ss.endpoint)
		}
		ss.srv.Tickets.Install(cfg, ss.serverid+"|"+ss.srv.TicketScope, cacheLog)
	}
	ss.watch = tlspolicy.NewAlertWatch(ss.remote)
	ss.tconn = tls.Server(ss.watch, cfg)
	if err := ss.runHandshake(); err != nil {
		ss.handshakeProblem(err)
		return nil
	}
	ss.watch.Stop()
	ss.shaken = true
	cs := ss.tconn.ConnectionState()
	if cs.DidResume && mask&tlspolicy.LogCache != 0 {
		suffix := ""
		if ss.srv.Tickets != nil && ss.srv.Tickets.Mode() == tlsmgr.ModeStateless {
			suffix = " (RFC 5077 session ticket)"
		}
		log.Infof("%s: Reusing old session%s", ss.endpoint, suffix)
	}
	info := tlspolicy.ServerInfoWith(cs, ss.tlsSrv, served(), verify(cs.PeerCertificates))
	if line := ver.LimitLine(ss.endpoint); line != "" {
		log.Warnf("%s", line)
	}
	if len(cs.PeerCertificates) > 0 {
		if verbose {
			log.Infof("subject=%s", tlspolicy.OneLine(cs.PeerCertificates[0].Subject))
			log.Infof("issuer=%s", tlspolicy.OneLine(cs.PeerCertificates[0].Issuer))
		}
		for _, w := range info.NameWarnings(ss.endpoint) {
			log.Warnf("%s", w) // names left out of the context reply
		}
		if info.PeerCertWanted(mask) {
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

// clientHandshake runs the client-role handshake with the request's TLS
// properties. Like Postfix's tlsproxy it completes the handshake even when
// the peer fails verification and only reports that (peer_status, level):
// smtp(8) decides whether to defer the mail.
func (ss *session) clientHandshake() []tlspolicy.NameValue {
	st := ss.props.clientStart()
	// 3.4 and 3.5 match names themselves (tls_wildcard_matches_multiple_labels
	// applies); 3.6+ leave it to OpenSSL, where "*" is one label.
	st.PostfixNameMatching = ss.gen < pfversion.G4
	sess, err := ss.client.NewSession(st, ss.srv.Log)
	if err != nil {
		return nil // NewSession logged why
	}
	ss.tconn = tls.Client(ss.remote, sess.Config())
	if err := ss.runHandshake(); err != nil {
		ss.handshakeProblem(err)
		return nil
	}
	ss.shaken = true
	res := sess.Evaluate(ss.tconn.ConnectionState())
	return res.Info.Context(st.NamAddr)
}

// runHandshake runs the TLS handshake on the remote socket, bounded by the
// request's first timeout. The bound is a deadline on the socket rather
// than a context: crypto/tls watches a cancellable context with a goroutine
// of its own, one more per handshake.
func (ss *session) runHandshake() error {
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
		ss.logLibraryProblem(err)
	}
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
