package main

import (
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/master"
	"tlsproxy/internal/tlsconf"
)

// maxRetire caps the retirement time when max_idle or max_use is 0 or
// their product is larger (Postfix event_server, 3.4+).
const maxRetire = 18000 * time.Second

// loadParams reads every parameter the process needs, in the order
// Postfix's tlsproxy loads its tables, so the first bad value is the one
// Postfix would complain about.
func loadParams(cfg *conf.Config, opts master.Options) (params, error) {
	var p params
	r := tlsconf.NewReader(cfg)
	p.queueDir = r.Str("queue_directory")
	p.mailOwner = r.Str("mail_owner")
	p.maxIdle = r.Dur("max_idle")
	p.maxUse = r.Int("max_use")
	p.server = tlsconf.ServerSettings(r)
	p.watchdog = r.Dur("tlsproxy_watchdog_timeout")
	tlsconf.GlobalSettings(r, &p.server) // read during TLS initialization
	if r.Err() != nil {
		return p, r.Err()
	}

	if opts.MaxIdle >= 0 {
		p.maxIdle = time.Duration(opts.MaxIdle) * time.Second
	}
	if opts.MaxUse >= 0 {
		p.maxUse = opts.MaxUse
	}
	switch {
	case opts.Retire > 0:
		p.retire = time.Duration(opts.Retire) * time.Second
	case p.maxIdle <= 0 || p.maxUse <= 0:
		p.retire = maxRetire
	default:
		p.retire = min(p.maxIdle*time.Duration(p.maxUse), maxRetire)
	}
	return p, nil
}
