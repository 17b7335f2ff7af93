package tlsclient

// Server certificate verification with OpenSSL's outcome: either success,
// or the first error at the lowest chain depth (what Postfix's verify
// callback keeps for its log line), with OpenSSL's error numbers.

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// OpenSSL X509_V_ERR_* codes this package reports.
const (
	errUnableToGetIssuer   = 2
	errNotYetValid         = 9
	errExpired             = 10
	errDepthZeroSelfSigned = 18
	errSelfSignedInChain   = 19
	errUnableToGetIssuerLc = 20
	errChainTooLong        = 22
	errInvalidPurpose      = 26
	errHostnameMismatch    = 62
	errIPMismatch          = 64
	errDANENoMatch         = 65
	errUnspecified         = 1
)

// errorText is X509_verify_cert_error_string for the codes that Postfix
// logs with the generic "num=%d:%s" form.
var errorText = map[int]string{
	errUnableToGetIssuer: "unable to get issuer certificate",
	errHostnameMismatch:  "hostname mismatch",
	errIPMismatch:        "IP address mismatch",
	errDANENoMatch:       "no matching DANE TLSA records", // OpenSSL 3's wording
	errUnspecified:       "unspecified certificate verification error",
}

// verifyError is one verification error: code, depth, certificate.
type verifyError struct {
	code  int
	depth int
	cert  *x509.Certificate
}

// daneAuth describes the TLSA record that authenticated the peer.
type daneAuth struct {
	rec   usableTLSA
	depth int
	mspki bool // a bare trust-anchor public key signed the certificate at depth
}

// verdict is the verification outcome.
type verdict struct {
	first    *verifyError // nil: verified
	peername string       // certificate name that matched a reference name
	dane     *daneAuth

	// For the verbose trace (PKIX only): the chain as built, the chain
	// building error and whether the name check failed.
	built     []*x509.Certificate
	buildErr  *verifyError
	nameErr   bool
	exhausted bool // the signature-check budget ran out
}

// add records an error unless one at a lower or equal depth is known.
func (v *verdict) add(code, depth int, cert *x509.Certificate) {
	if v.first == nil || depth < v.first.depth {
		v.first = &verifyError{code: code, depth: depth, cert: cert}
	}
}

// verify checks the peer chain (leaf first) at time now.
func (s *Session) verify(chain []*x509.Certificate, now time.Time) verdict {
	var v verdict
	// A hostile server can send many certificates that share one name
	// (and one key identifier), in the order that makes a search try each
	// against each; the chain builder bounds the signature checks.
	if len(chain) > maxPeerChain {
		chain = chain[:maxPeerChain]
	}
	b := tlspolicy.NewChainBuilder(s.st.VerifyDepth)
	switch {
	case s.dane:
		s.verifyDANE(b, chain, now, &v)
	default:
		s.verifyPKIX(b, chain, now, &v)
	}
	s.sigChecks, v.exhausted = b.Checks, b.Exhausted
	return v
}

// maxPeerChain bounds how many of the peer's certificates are looked at.
const maxPeerChain = tlspolicy.MaxPeerChain

// verifyPKIX follows OpenSSL's order: chain building (trusted first),
// depth limit, purpose, host name, then validity dates from the top down.
func (s *Session) verifyPKIX(b *tlspolicy.ChainBuilder, chain []*x509.Certificate, now time.Time, v *verdict) {
	built, trusted := s.buildChain(b, chain, v)
	v.built, v.buildErr = built, v.first
	if limit := s.st.VerifyDepth; trusted && limit >= 0 && len(built)-1 > limit {
		v.add(errChainTooLong, limit+1, built[limit+1])
	}
	s.checkLeaf(chain[0], v)
	checkTimes(built, len(built), now, v)
}

// checkLeaf applies the server purpose and, when configured, the name
// checks to the leaf.
func (s *Session) checkLeaf(leaf *x509.Certificate, v *verdict) {
	if !serverPurpose(leaf) {
		v.add(errInvalidPurpose, 0, leaf)
	}
	s.checkName(leaf, v)
}

func (s *Session) checkName(leaf *x509.Certificate, v *verdict) {
	if !s.nameCheck || len(s.refs) == 0 {
		return
	}
	name, code := matchPeer(leaf, s.refs, s.multiLabel())
	if code == 0 {
		v.peername = name
		return
	}
	v.nameErr = true
	v.add(code, 0, leaf)
}

// multiLabel reports whether "*" may match several labels: only for
// 3.4/3.5 requests, which Postfix matched itself, as the setting says.
func (s *Session) multiLabel() bool {
	return s.st.PostfixNameMatching && s.c.set.WildcardMultipleLabels
}

// checkTimes checks the validity of built[0:below], top down.
func checkTimes(built []*x509.Certificate, below int, now time.Time, v *verdict) {
	for d := below - 1; d >= 0; d-- {
		switch c := built[d]; {
		case now.Before(c.NotBefore):
			v.add(errNotYetValid, d, c)
		case now.After(c.NotAfter):
			v.add(errExpired, d, c)
		}
	}
}

// buildChain builds the chain from the leaf, preferring issuers from the
// trust store (CAfile/CApath) over the ones the peer sent; trusted means
// it ends in a self-signed certificate of the trust store. When the
// builder's signature budget runs out, the certificate whose issuer was
// being sought gets "unable to get local issuer certificate".
func (s *Session) buildChain(b *tlspolicy.ChainBuilder, peer []*x509.Certificate, v *verdict) (built []*x509.Certificate, trusted bool) {
	built = []*x509.Certificate{peer[0]}
	fromStore := []bool{false}
	used := make([]bool, len(peer))
	used[0] = true
	for depth := 0; depth < len(peer)+len(s.c.roots)+1; depth++ {
		cur := built[depth]
		if b.SelfSigned(cur) {
			if fromStore[depth] || s.inStore(cur) {
				return built, true
			}
			code := errSelfSignedInChain
			if depth == 0 {
				code = errDepthZeroSelfSigned
			}
			v.add(code, depth, cur)
			return built, false
		}
		if root := b.FindIssuer(cur, s.c.roots, nil); root >= 0 {
			built, fromStore = append(built, s.c.roots[root]), append(fromStore, true)
			continue
		}
		if next := b.FindIssuer(cur, peer, used); next >= 0 {
			used[next] = true
			built, fromStore = append(built, peer[next]), append(fromStore, false)
			continue
		}
		code := errUnableToGetIssuerLc
		if fromStore[depth] && !b.Exhausted {
			code = errUnableToGetIssuer
		}
		v.add(code, depth, cur)
		return built, false
	}
	// The bound ran out (issuers that sign each other): no trust anchor
	// was reached, which must never pass for trusted.
	last := len(built) - 1
	v.add(errChainTooLong, last, built[last])
	return built, false
}

func (s *Session) inStore(c *x509.Certificate) bool {
	for _, r := range s.c.roots {
		if bytes.Equal(r.RawSubject, c.RawSubject) && bytes.Equal(r.RawSubjectPublicKeyInfo, c.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}

// serverPurpose is OpenSSL's "ssl_server" purpose for a leaf: extended key
// usage, when present, includes serverAuth; key usage, when present,
// allows a signature, key encipherment or key agreement.
func serverPurpose(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageNetscapeServerGatedCrypto || u == x509.ExtKeyUsageMicrosoftServerGatedCrypto {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if c.KeyUsage != 0 {
		return c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement) != 0
	}
	return true
}

// verifyDANE authenticates with TLSA records like OpenSSL's DANE support:
// a DANE-EE record matching the leaf wins (no name, date or chain checks at
// the DANE and fingerprint levels; names still count at verify/secure);
// otherwise a DANE-TA record must match a certificate of the chain above
// the leaf, or a full certificate or public key record must have signed
// one, and the chain below it is checked for purpose, names and dates.
// Every signature check, chain building's and the trust anchors', comes
// out of the one budget of b.
func (s *Session) verifyDANE(b *tlspolicy.ChainBuilder, chain []*x509.Certificate, now time.Time, v *verdict) {
	leaf := chain[0]
	for _, r := range s.ee {
		if r.matches(leaf) {
			v.dane = &daneAuth{rec: r}
			if !daneBased(s.level) {
				s.checkName(leaf, v)
			}
			return
		}
	}
	if len(s.ta) == 0 {
		v.add(errDANENoMatch, 0, leaf)
		return
	}
	built := []*x509.Certificate{leaf}
	used := make([]bool, len(chain))
	used[0] = true
	for depth := 0; depth < len(chain); depth++ {
		cur := built[depth]
		if auth := s.matchTA(b, cur, depth); auth != nil {
			v.dane = auth
			s.checkLeaf(leaf, v)
			below := auth.depth // certificates under the trust anchor
			if auth.mspki {
				below++
			}
			checkTimes(built, min(below, len(built)), now, v)
			return
		}
		next := b.FindIssuer(cur, chain, used)
		if next < 0 {
			break
		}
		used[next] = true
		built = append(built, chain[next])
	}
	v.add(errDANENoMatch, len(built)-1, nil)
}

// matchTA reports whether cur (at depth) is a trust anchor by a DANE-TA
// record, or was signed by a full certificate or bare key record.
func (s *Session) matchTA(b *tlspolicy.ChainBuilder, cur *x509.Certificate, depth int) *daneAuth {
	if depth > 0 {
		for _, r := range s.ta {
			if r.matches(cur) {
				return &daneAuth{rec: r, depth: depth}
			}
		}
	}
	for i, r := range s.ta {
		switch {
		case r.cert != nil && b.IssuedBy(cur, r.cert):
			return &daneAuth{rec: r, depth: depth + 1}
		case r.spki != nil && b.SignedByKey(cur, i, r.spki):
			return &daneAuth{rec: r, depth: depth, mspki: true}
		}
	}
	return nil
}

// matches compares a certificate with the record's association data.
func (r usableTLSA) matches(c *x509.Certificate) bool {
	data := c.Raw
	if r.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	if r.MType == 0 {
		return bytes.Equal(data, r.Data)
	}
	return tlspolicy.Fingerprint(r.digest, data) == tlspolicy.ColonHex(r.Data)
}

// logText is Postfix's tls_log_verify_error line for an error.
func (e *verifyError) logText(namaddr string) string {
	purpose := "server"
	if e.depth > 0 {
		purpose = "CA"
	}
	switch e.code {
	case errDepthZeroSelfSigned:
		return fmt.Sprintf("certificate verification failed for %s: self-signed certificate", namaddr)
	case errUnableToGetIssuerLc, errSelfSignedInChain:
		issuer := "<unknown>"
		if e.cert != nil {
			issuer = oneline(e.cert, true)
		}
		return fmt.Sprintf("certificate verification failed for %s: untrusted issuer %s", namaddr, issuer)
	case errNotYetValid:
		return fmt.Sprintf("%s certificate verification failed for %s: certificate not yet valid", purpose, namaddr)
	case errExpired:
		return fmt.Sprintf("%s certificate verification failed for %s: certificate has expired", purpose, namaddr)
	case errInvalidPurpose:
		return fmt.Sprintf("certificate verification failed for %s: not designated for use as a %s certificate", namaddr, purpose)
	case errChainTooLong:
		return fmt.Sprintf("certificate verification failed for %s: certificate chain longer than limit(%d)", namaddr, e.depth-1)
	}
	return fmt.Sprintf("%s certificate verification failed for %s: num=%d:%s", purpose, namaddr, e.code, errorText[e.code])
}

// verifyTrace is what Postfix's verify callback logs at the verbose level
// for a PKIX verification (not DANE), in OpenSSL's order: a chain-building
// error at its depth and a purpose or host name error at depth 0 (each
// verify=0), then every certificate of the chain from the top down: a
// date error (verify=0), then verify=1. Lines have no peer name. It reads
// the verdict of verify: the chain is built once per session.
func verifyTrace(v verdict, now time.Time) []string {
	if len(v.built) == 0 {
		return nil
	}
	line := func(depth, ok int, c *x509.Certificate) string {
		return fmt.Sprintf("depth=%d verify=%d subject=%s", depth, ok, tlspolicy.OneLine(c.Subject))
	}
	var lines []string
	if e := v.buildErr; e != nil {
		lines = append(lines, line(e.depth, 0, e.cert))
	}
	leaf := v.built[0]
	if !serverPurpose(leaf) {
		lines = append(lines, line(0, 0, leaf))
	}
	if v.nameErr {
		lines = append(lines, line(0, 0, leaf))
	}
	for d := len(v.built) - 1; d >= 0; d-- {
		if c := v.built[d]; now.Before(c.NotBefore) || now.After(c.NotAfter) {
			lines = append(lines, line(d, 0, c))
		}
		lines = append(lines, line(d, 1, v.built[d]))
	}
	return lines
}
