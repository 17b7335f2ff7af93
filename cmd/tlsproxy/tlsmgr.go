package main

import (
	"crypto/tls"
	"errors"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// tlsmgrSetup does the server role's start-up conversation with tlsmgr(8),
// before the jail, as Postfix's tlsproxy does: a seed request (its failure
// disables TLS), then the smtpd cache policy, and returns the ticket keeper
// in one of three modes, as Postfix's tls_server_init and OpenSSL decide:
//
//   - stateless tickets (tls_session_ticket_cipher set, the default; a
//     name Postfix would refuse is logged and counts as empty):
//     sealed with tlsmgr's ticket keys, so that every tlsproxy process
//     resumes the others' sessions; with a tlsmgr that has no ticket keys
//     (Postfix 2.8 - 2.10: a policy reply without timeout), sealed with
//     keys of this process, as OpenSSL does for those releases' tlsproxy,
//     valid for smtpd_tls_session_cache_timeout;
//   - stateful tickets (tls_session_ticket_cipher empty, and tlsmgr has an
//     smtpd_tls_session_cache_database: cachable): the session is kept in
//     tlsmgr's smtpd cache and the ticket only names it, as OpenSSL does
//     with tickets off and a session cache on; Go has no session-id
//     resumption, so this is its only way into the cache;
//   - none: tickets off and no cache, or a cache timeout of 0, or a failed
//     policy request.
//
// The timeout of the policy reply (smtpd_tls_session_cache_timeout) is the
// session lifetime in both modes. The client is reconnected later through
// the relative path private/<tlsmgr_service_name>, which works inside the
// chroot (queue_directory) as well. log receives warnings, and the cache's
// hits, misses and saves when the TLS log level includes "cache" (2 or
// more).
func tlsmgrSetup(cfg *conf.Config, srv *tlspolicy.Server, log logs.Logger) (*tlsmgr.Tickets, error) {
	if srv == nil || !srv.Enabled {
		return nil, nil
	}
	ticketCipher, err := cfg.Str("tls_session_ticket_cipher")
	if err != nil {
		return nil, err
	}
	c, err := tlsmgrStart(cfg, log)
	if err != nil {
		return nil, err
	}
	if c == nil {
		srv.Enabled = false
		return nil, nil
	}
	cachable, lifetime, err := c.Policy(tlsmgr.CacheSMTPD)
	// tlsmgr of Postfix 2.8 - 2.10 has no ticket keys and reports no
	// timeout. Their tlsproxy left tickets to OpenSSL, which seals them
	// with keys of its own process, valid for the SSL context's timeout,
	// smtpd_tls_session_cache_timeout.
	oldMgr := errors.Is(err, tlsmgr.ErrNoTicketKeys)
	switch {
	case oldMgr:
		if lifetime, err = cfg.Time("smtpd_tls_session_cache_timeout"); err != nil {
			return nil, err
		}
	case err != nil:
		lifetime = 0 // no session cache, no tickets
	}
	if srv.Options.NoTickets {
		// tls_ssl_options = NO_TICKET: no ticket keys; OpenSSL then
		// issues TLS 1.3 tickets that name a session cache entry.
		ticketCipher = ""
	}
	if !oldMgr && ticketCipher != "" && !tlsmgr.TicketCipherValid(ticketCipher) {
		// As Postfix: then as if the parameter were empty.
		log.Warnf("tls_session_ticket_cipher: invalid value: %s; session tickets disabled", ticketCipher)
		ticketCipher = ""
	}
	requireCert := srv.RequireCert
	opts := tlsmgr.TicketOptions{
		Lifetime: lifetime,
		Log:      log,
		// A resumed session must not skip a client-certificate
		// requirement.
		Accept: func(_ string, _ tls.ConnectionState, info tlsmgr.SessionInfo) bool {
			return !requireCert || info.ClientCert
		},
	}
	switch {
	case oldMgr && !srv.Options.NoTickets:
		opts.LogCache = srv.LogMask&tlspolicy.LogCache != 0
		return tlsmgr.NewTickets(tlsmgr.NewLocalKeys(lifetime, nil), opts), nil
	case ticketCipher != "":
	case cachable:
		opts.Cache = c
	default:
		opts.Lifetime = 0 // neither tickets nor a cache
	}
	opts.LogCache = srv.LogMask&tlspolicy.LogCache != 0
	return tlsmgr.NewTickets(c, opts), nil
}

// tlsmgrStart connects to tlsmgr and asks for tls_daemon_random_bytes of
// seed, as each TLS role does when Postfix initializes it. On failure it
// logs Postfix's warning and returns a nil client: the role is then off.
func tlsmgrStart(cfg *conf.Config, log logs.Logger) (*tlsmgr.Client, error) {
	name, err := cfg.Str("tlsmgr_service_name")
	if err != nil {
		return nil, err
	}
	nbytes, err := cfg.Int("tls_daemon_random_bytes")
	if err != nil {
		return nil, err
	}
	c, err := tlsmgr.Dial(tlsmgr.ServicePath(name), tlsmgr.Options{Log: log})
	if err == nil {
		_, err = c.Seed(nbytes)
	}
	if err != nil {
		log.Warnf("no entropy for TLS key generation: disabling TLS support")
		if c != nil {
			_ = c.Close()
		}
		return nil, nil
	}
	return c, nil
}
