package tlspolicy

// Why a client certificate is not trusted, in the words Postfix 3.7 logs
// them when untrusted-certificate logging is on (tlsproxy_tls_req_ccert
// with level encrypt, or the "untrusted" log level keyword). Observed with
// Debian's tlsproxy (internal/interop TestClientCertificates):
//
//	certificate verification failed for [ip]:port: untrusted issuer /CN=Other CA
//	certificate verification failed for [ip]:port: self-signed certificate
//	client certificate verification failed for [ip]:port: certificate has expired
//
// The checks run in OpenSSL's order: chain building first, then validity
// periods, then the depth limit.

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UntrustedLine is the log line for an untrusted peer certificate, "" when
// the certificate is trusted or absent. Log it before the summary line
// when LogUntrusted is set.
func (i Info) UntrustedLine(namaddr string) string {
	if i.VerifyFailure == "" {
		return ""
	}
	where := strings.ToLower(namaddr)
	if strings.HasPrefix(i.VerifyFailure, "certificate has expired") || strings.HasPrefix(i.VerifyFailure, "certificate not yet valid") {
		return fmt.Sprintf("client certificate verification failed for %s: %s", where, i.VerifyFailure)
	}
	return fmt.Sprintf("certificate verification failed for %s: %s", where, i.VerifyFailure)
}

// PeerVerification is the one verification of a peer's certificate
// chain that a handshake makes: its result feeds the TRUSTED bit, the
// untrusted-certificate line and the verbose trace (see VerifyPeer).
type PeerVerification struct {
	// Trusted: the chain verifies against the CA store within the
	// verify depth.
	Trusted bool
	// Failure is why it does not, in Postfix's words (Info.VerifyFailure).
	Failure string
	// Checks counts the signature checks of chain building; Exhausted
	// says that the budget ran out (see LimitLine).
	Checks    int
	Exhausted bool

	chains [][]*x509.Certificate // as verified now, for the trace
}

// LimitLine is the warning logged when chain building ran out of its
// signature-check budget, "" otherwise.
func (v *PeerVerification) LimitLine(namaddr string) string {
	if v == nil || !v.Exhausted {
		return ""
	}
	return fmt.Sprintf("%s: certificate chain verification stopped after %d signature checks (the limit per session): certificate not trusted",
		strings.ToLower(namaddr), v.Checks)
}

var emptyPool = x509.NewCertPool()

// VerifyPeer verifies a client certificate chain (leaf first) once, with
// bounded work, as OpenSSL does for a handshake. Of the peer's
// certificates (at most MaxPeerChain), only those on one path up from the
// leaf count: chain building picks each issuer by name, key identifier and
// key type, checks its signature within the budget of a ChainBuilder, and
// stops after the verify depth allows, at a repeated name, or at a
// self-signed certificate. Without a CA store nothing can be trusted and
// no chain is built. Only the path is then handed to crypto/x509, so its
// own search never sees the rest.
func (s *Server) VerifyPeer(chain []*x509.Certificate, now time.Time) *PeerVerification {
	if len(chain) == 0 {
		return nil
	}
	if len(chain) > MaxPeerChain {
		chain = chain[:MaxPeerChain]
	}
	v := &PeerVerification{}
	b := NewChainBuilder(s.verifyDepth)
	defer func() { v.Checks, v.Exhausted = b.Checks, b.Exhausted }()
	top := chain[len(chain)-1]
	if s.verifyPool == nil || s.verifyPool.Equal(emptyPool) {
		if len(chain) == 1 && b.SelfSigned(top) {
			v.Failure = "self-signed certificate"
		} else {
			v.Failure = "untrusted issuer " + OneLine(top.Issuer)
		}
		return v
	}
	path := peerPath(b, chain, s.verifyDepth)
	inter := x509.NewCertPool()
	for _, c := range path[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: s.verifyPool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil {
		v.chains = chains
		for _, c := range chains {
			if len(c)-1 <= s.verifyDepth {
				v.Trusted = true
				return v
			}
		}
	}
	v.Failure = s.failure(b, chain, inter)
	return v
}

// peerPath returns the leaf and the issuers above it among the peer's
// certificates, as far as the budget, the depth limit (one more than it
// allows, so that an overlong chain is seen) and the names allow.
func peerPath(b *ChainBuilder, chain []*x509.Certificate, depth int) []*x509.Certificate {
	path := []*x509.Certificate{chain[0]}
	used := make([]bool, len(chain))
	used[0] = true
	for len(path) <= max(depth, 0)+1 {
		cur := path[len(path)-1]
		if b.SelfSigned(cur) {
			break
		}
		next := b.FindIssuer(cur, chain, used)
		if next < 0 {
			break
		}
		used[next] = true
		if slices.ContainsFunc(path, func(c *x509.Certificate) bool { return bytes.Equal(c.RawSubject, chain[next].RawSubject) }) {
			break // a name twice on one path: never needed, and it would let crypto/x509 search
		}
		path = append(path, chain[next])
	}
	return path
}

// failure names the first problem OpenSSL would find with chain, whose
// issuers above the leaf are inter.
func (s *Server) failure(b *ChainBuilder, chain []*x509.Certificate, inter *x509.CertPool) string {
	leaf := chain[0]
	// Chain building, at a time when the leaf is valid.
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: s.verifyPool, Intermediates: inter,
		CurrentTime: leaf.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	now := time.Now()
	switch {
	case errors.As(err, &unknown):
		top := chain[len(chain)-1]
		if len(chain) == 1 && b.SelfSigned(top) {
			return "self-signed certificate"
		}
		return "untrusted issuer " + OneLine(top.Issuer)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		// An issuer outside its period when the leaf's began (a CA
		// younger than an expired leaf): crypto/x509 builds chains at
		// one time only, OpenSSL regardless of time, and then finds
		// the periods wrong. Word the first one that is wrong now.
		if why := outOfPeriod(append(slices.Clone(chain), invalid.Cert), now); why != "" {
			return why
		}
		return "certificate chain does not verify: " + err.Error()
	case err != nil:
		return "certificate chain does not verify: " + err.Error()
	}
	if why := outOfPeriod(chains[0], now); why != "" {
		return why
	}
	if len(chains[0])-1 > s.verifyDepth {
		return fmt.Sprintf("certificate chain longer than limit(%d)", s.verifyDepth)
	}
	return "not designated for use as a client certificate"
}

// outOfPeriod words the first of certs (leaf first) that is not valid at
// now, "" if all are.
func outOfPeriod(certs []*x509.Certificate, now time.Time) string {
	for _, c := range certs {
		switch {
		case now.Before(c.NotBefore):
			return "certificate not yet valid"
		case now.After(c.NotAfter):
			return "certificate has expired"
		}
	}
	return ""
}
