package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// tlsmgrSetup does the server role's start-up conversation with tlsmgr(8),
// before the jail, as Postfix's tlsproxy does: a seed request (its failure
// disables TLS), then the smtpd cache policy, whose timeout is also the
// session ticket lifetime (0 or a failed request: no tickets). It returns
// the ticket keeper, whose keys come from tlsmgr so that every tlsproxy
// process resumes the others' sessions. The client is reconnected later
// through the relative path private/<tlsmgr_service_name>, which works
// inside the chroot (queue_directory) as well.
func tlsmgrSetup(cfg *conf.Config, srv *tlspolicy.Server, warn func(string)) (*tlsmgr.Tickets, error) {
	if srv == nil || !srv.Enabled {
		return nil, nil
	}
	name, err := cfg.Str("tlsmgr_service_name")
	if err != nil {
		return nil, err
	}
	nbytes, err := cfg.Int("tls_daemon_random_bytes")
	if err != nil {
		return nil, err
	}
	warnf := func(format string, a ...any) { warn(fmt.Sprintf(format, a...)) }
	c, err := tlsmgr.Dial(tlsmgr.ServicePath(name), tlsmgr.Options{Warnf: warnf})
	if err == nil {
		_, err = c.Seed(nbytes)
	}
	if err != nil {
		warn("no entropy for TLS key generation: disabling TLS support")
		srv.Enabled = false
		if c != nil {
			_ = c.Close()
		}
		return nil, nil
	}
	_, lifetime, err := c.Policy(tlsmgr.CacheSMTPD)
	if err != nil {
		lifetime = 0 // no session cache, no tickets
	}
	requireCert := srv.RequireCert
	return tlsmgr.NewTickets(c, tlsmgr.TicketOptions{
		Lifetime: lifetime,
		Warnf:    warnf,
		// A resumed session must not skip a client-certificate
		// requirement.
		Accept: func(_ string, _ tls.ConnectionState, info tlsmgr.SessionInfo) bool {
			return !requireCert || info.ClientCert
		},
	}), nil
}

// policyScope names the server TLS policy in force, so that tickets issued
// under one configuration never resume under another (a reload with
// different settings starts a new scope).
func policyScope(settings any) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", settings))
	return hex.EncodeToString(sum[:8])
}
