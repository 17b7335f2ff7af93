package tlsclient

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// ReasonNotVerified is smtp(8)'s deferral reason (4.7.5) when a level
// above encrypt finds no MATCHED peer.
const ReasonNotVerified = "Server certificate not verified"

// Result is the post-handshake evaluation (Postfix's
// tls_client_post_connect).
type Result struct {
	// Info describes the session for the TLS context reply and the
	// summary line; its PeerStatus and Level are filled in:
	// Info.Context(namaddr), Info.Summary("to", namaddr).
	Info tlspolicy.Info

	Level      int  // effective TLS_LEV_* (also Info.Level)
	PeerStatus int  // tlspolicy.Peer* bits (also Info.PeerStatus)
	MustMatch  bool // Level requires MATCHED (every level above encrypt)

	// Reason is ReasonNotVerified when smtp(8) will defer the mail
	// (MustMatch without MATCHED), else "". tlsproxy itself carries on.
	Reason string
	// VerifyError is Postfix's wording of the verification failure
	// ("certificate verification failed for ...: ..."), "" if verified.
	VerifyError string
	// PeerName is the certificate name that matched a reference name.
	PeerName string
}

// Failed reports whether smtp(8) will refuse this session.
func (r Result) Failed() bool { return r.Reason != "" }

// Evaluate computes peer_status and the effective level for a finished
// handshake and writes Postfix's post-handshake log lines: matched peer
// name and DANE lines, the verification failure, the peer certificate
// line and the summary, each under its log level.
func (s *Session) Evaluate(cs tls.ConnectionState) Result {
	return s.evaluate(cs, time.Now())
}

func (s *Session) evaluate(cs tls.ConnectionState, now time.Time) Result {
	namaddr := strings.ToLower(s.st.NamAddr)
	if cs.DidResume && s.mask&tlspolicy.LogCache != 0 {
		s.log.Infof("%s: Reusing old session", namaddr)
	}
	s.mu.Lock()
	sent := s.sent
	s.mu.Unlock()
	// ServerInfo describes "our certificate" and "the peer's": in the
	// client role those are the client and server signatures.
	info := tlspolicy.ServerInfoWith(cs, &tlspolicy.Server{Digest: strings.ToLower(s.st.MDAlg)}, sent, nil)
	info.ClientSig, info.ServerSig = info.ServerSig, info.ClientSig
	info.PeerStatus &= tlspolicy.PeerPresent
	res := Result{Level: s.level, MustMatch: mustMatch(s.level)}

	if len(cs.PeerCertificates) > 0 {
		v := s.verify(cs.PeerCertificates, now)
		if s.mask&tlspolicy.LogVerbose != 0 && !cs.DidResume && !s.dane && !s.mustFail {
			for _, l := range verifyTrace(v, now) {
				s.log.Infof("%s: %s", namaddr, l)
			}
		}
		if v.exhausted {
			s.log.Warnf("%s: server certificate chain verification stopped after %d signature checks (the limit per session): certificate not trusted",
				namaddr, s.sigChecks)
		}
		if s.mustFail {
			// Nothing usable to match against (Postfix's must_fail):
			// OpenSSL is set up so that verification fails with error 1
			// at the peer certificate, whatever the chain says.
			v = verdict{first: &verifyError{code: errUnspecified, cert: cs.PeerCertificates[0]}}
		}
		verbose := s.mask&(tlspolicy.LogCertMatch|tlspolicy.LogVerbose|tlspolicy.LogPeerCert) != 0
		if v.first == nil {
			info.PeerStatus |= tlspolicy.PeerTrusted
			// With nothing to match against (must_fail) Postfix never
			// reports a match; its OpenSSL setup makes success impossible.
			if res.MustMatch && !s.mustFail && !s.noMatch {
				if s.level != LevelHalfDane {
					info.PeerStatus |= tlspolicy.PeerSecured
				}
				info.PeerStatus |= tlspolicy.PeerMatched
				res.PeerName = v.peername
				if verbose {
					if v.peername != "" {
						s.log.Infof("%s: matched peername: %s", namaddr, v.peername)
					}
					if line := s.daneLine(namaddr, v.dane); line != "" {
						s.log.Infof("%s", line)
					}
				}
			}
		} else {
			res.VerifyError = v.first.logText(namaddr)
		}
		if info.PeerStatus&tlspolicy.PeerMatched == 0 && s.mask&tlspolicy.LogUntrusted != 0 {
			if cs.DidResume {
				s.log.Infof("%s: re-using session with untrusted certificate, look for details earlier in the log", s.st.NamAddr)
			} else if res.VerifyError != "" {
				s.log.Infof("%s", res.VerifyError)
			}
		}
		// Names with control characters or of 256 bytes or more are left
		// out, with Postfix's warnings; from 3.6 on, a subject without a
		// usable CN is named by the certificate name that matched.
		for _, w := range info.NameWarnings(s.st.NamAddr) {
			s.log.Warnf("%s", w)
		}
		if info.PeerCN == "" && !s.st.PostfixNameMatching {
			info.PeerCN = v.peername
		}
		if verbose {
			s.log.Infof("%s", PeerCertLine(s.st.NamAddr, info))
		}
	}
	info.Level = s.level
	res.Info, res.PeerStatus = info, info.PeerStatus
	if res.MustMatch && info.PeerStatus&tlspolicy.PeerMatched == 0 {
		res.Reason = ReasonNotVerified
	}
	if s.mask&tlspolicy.LogSummary != 0 {
		s.log.Infof("%s", info.Summary("to", s.st.NamAddr))
	}
	return res
}

// PeerCertLine is the client role's peer certificate log line, as the
// installed release words it (tlspolicy.SetRelease).
func PeerCertLine(namaddr string, i tlspolicy.Info) string { return i.ClientPeerCertLine(namaddr) }

// daneLine is Postfix's tls_dane_log line for a TLSA-based success.
func (s *Session) daneLine(namaddr string, a *daneAuth) string {
	if a == nil {
		return ""
	}
	switch s.level {
	case LevelVerify, LevelSecure:
		return fmt.Sprintf("%s: Matched trust anchor at depth %d", namaddr, a.depth)
	case LevelFingerprint:
		return fmt.Sprintf("%s: Matched fingerprint: %s", namaddr, hexDump(a.rec.Data))
	}
	what := "EE certificate"
	switch {
	case a.mspki:
		what = "TA public key verified certificate"
	case a.depth > 0:
		what = "TA certificate"
	}
	return fmt.Sprintf("%s: Matched DANE %s at depth %d: %d %d %d %s",
		namaddr, what, a.depth, a.rec.Usage, a.rec.Selector, a.rec.MType, hexDump(a.rec.Data))
}
