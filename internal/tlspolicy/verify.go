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

// verifyFailure names the first problem OpenSSL would find with chain.
func (s *Server) verifyFailure(chain []*x509.Certificate) string {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	roots := s.verifyPool
	if roots == nil {
		roots = x509.NewCertPool()
	}
	// Chain building, at a time when the leaf is valid.
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: leaf.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknown):
		top := chain[len(chain)-1]
		if len(chain) == 1 && bytes.Equal(top.RawIssuer, top.RawSubject) && top.CheckSignatureFrom(top) == nil {
			return "self-signed certificate"
		}
		return "untrusted issuer " + OneLine(top.Issuer)
	case err != nil:
		return "certificate chain does not verify: " + err.Error()
	}
	now := time.Now()
	for _, c := range chains[0] {
		switch {
		case now.Before(c.NotBefore):
			return "certificate not yet valid"
		case now.After(c.NotAfter):
			return "certificate has expired"
		}
	}
	if len(chains[0])-1 > s.verifyDepth {
		return fmt.Sprintf("certificate chain longer than limit(%d)", s.verifyDepth)
	}
	return "not designated for use as a client certificate"
}
