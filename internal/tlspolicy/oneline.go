package tlspolicy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"time"
)

// OneLine writes a distinguished name the way OpenSSL's
// X509_NAME_oneline does, which Postfix uses for its verbose "subject=",
// "issuer=" and "depth=" lines: "/" before each attribute, OpenSSL's
// short name (or the dotted OID), "=", the value with bytes outside
// printable ASCII as \xHH.
func OneLine(n pkix.Name) string {
	var b strings.Builder
	for _, atv := range n.Names {
		b.WriteByte('/')
		b.WriteString(ShortName(atv.Type))
		b.WriteByte('=')
		v := fmt.Sprint(atv.Value)
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' || c > '~' {
				fmt.Fprintf(&b, `\x%02X`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// ShortName is OpenSSL's short name of a name attribute type ("CN",
// "O", ...), or its dotted OID.
func ShortName(oid asn1.ObjectIdentifier) string {
	if sn, ok := shortNames[oid.String()]; ok {
		return sn
	}
	return oid.String()
}

// shortNames are OpenSSL's short names of the usual name attributes.
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
	"2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.15": "businessCategory",
	"2.5.4.17": "postalCode", "2.5.4.41": "name", "2.5.4.42": "GN",
	"2.5.4.43": "initials", "2.5.4.44": "generationQualifier", "2.5.4.46": "dnQualifier",
	"2.5.4.65": "pseudonym", "1.2.840.113549.1.9.1": "emailAddress",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
	"1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

// VerifyTrace returns the lines Postfix's verify callback logs at the
// verbose level for a client certificate chain (leaf first), without the
// peer name: "depth=D verify=V subject=/...", in OpenSSL's order for the
// usual cases. A chain that verifies against the CA store is reported
// from its root down, each with verify=1. Otherwise the chain as sent
// (at most MaxPeerChain certificates) gets one verify=0 line at its top
// (no issuer in the store, or self-signed), then each certificate from
// the top down: a verify=0 line for a date outside its validity, and
// verify=1. Other checks (purpose, depth) add no lines here. It verifies
// the chain: VerifyTraceOf reuses a verification.
func (s *Server) VerifyTrace(chain []*x509.Certificate, now time.Time) []string {
	return s.VerifyTraceOf(s.VerifyPeer(chain, now), chain, now)
}

// VerifyTraceOf is VerifyTrace with the chain's verification v.
func (s *Server) VerifyTraceOf(v *PeerVerification, chain []*x509.Certificate, now time.Time) []string {
	if len(chain) == 0 {
		return nil
	}
	if len(chain) > MaxPeerChain {
		chain = chain[:MaxPeerChain]
	}
	line := func(depth, ok int, c *x509.Certificate) string {
		return fmt.Sprintf("depth=%d verify=%d subject=%s", depth, ok, OneLine(c.Subject))
	}
	var lines []string
	if v != nil && len(v.chains) > 0 {
		built := v.chains[0]
		for d := len(built) - 1; d >= 0; d-- {
			lines = append(lines, line(d, 1, built[d]))
		}
		return lines
	}
	top := len(chain) - 1
	lines = append(lines, line(top, 0, chain[top]))
	for d := top; d >= 0; d-- {
		if c := chain[d]; now.Before(c.NotBefore) || now.After(c.NotAfter) {
			lines = append(lines, line(d, 0, c))
		}
		lines = append(lines, line(d, 1, chain[d]))
	}
	return lines
}
