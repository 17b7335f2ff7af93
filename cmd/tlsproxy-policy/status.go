package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// checkStatus is the exit status for monitoring (see the package comment)
// and why, for a policy that loaded: 3 server role disabled, 4 no
// certificate loads, 5 a certificate expired, not yet valid or expiring
// within warnDays days of now, else 0.
func checkStatus(s tlspolicy.ServerSettings, srv *tlspolicy.Server, now time.Time, warnDays int) (int, string) {
	certs := srv.Certificates()
	if !srv.Enabled {
		switch s.SecurityLevel {
		case "none", "":
			return 3, fmt.Sprintf("server role disabled by configuration (security level %s)", orNone(s.SecurityLevel))
		}
		if len(certs) == 0 {
			return 4, "no server certificate could be loaded: TLS is disabled"
		}
		return 3, "server role disabled by a start-up problem (see the warnings)"
	}
	limit := now.Add(time.Duration(warnDays) * 24 * time.Hour)
	for _, c := range certs {
		leaf, err := leafOf(c)
		if err != nil {
			return 4, "unparsable certificate: " + err.Error()
		}
		switch {
		case now.After(leaf.NotAfter):
			return 5, fmt.Sprintf("certificate %s expired on %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(leaf.NotBefore):
			return 5, fmt.Sprintf("certificate %s is not valid before %s", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
		case limit.After(leaf.NotAfter):
			return 5, fmt.Sprintf("certificate %s expires on %s, within %d days", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339), warnDays)
		}
	}
	return 0, ""
}

func leafOf(c tls.Certificate) (*x509.Certificate, error) {
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	return x509.ParseCertificate(c.Certificate[0])
}
