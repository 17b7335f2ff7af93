package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlsclient"
	"tlsproxy/internal/tlsconf"
	"tlsproxy/internal/tlsmgr"
	"tlsproxy/internal/tlspolicy"
)

// clientSetup is the client role as prepared before the jail.
type clientSetup struct {
	// client is made from tlsproxy_client_*; nil when that failed.
	client *tlsclient.Client
	// init are those settings as TLS_CLIENT_INIT_PROPS, the way
	// Postfix's pre-jail client context has them; nil: the role is off.
	init map[string]string
	// newClient makes a client from a request's files after the jail
	// (same certificates-independent settings); nil: no tlsmgr seed.
	newClient func(files map[string]string) (*tlsclient.Client, error)
}

// clientRole prepares the client role (smtp(8) connection reuse) before
// the jail from the tlsproxy_client_* parameters, which default to the
// smtp_tls_* ones. Like Postfix (tlsproxy.c pre-jail init), it is set up
// when the client security level is not "none", or a per-site table or
// policy map is configured; otherwise the role is off and every
// client-role request gets status 0. Then it asks tlsmgr(8) for a seed
// and the smtp and lmtp cache policies (clientSessionCache); without a
// seed the role stays on but cannot serve (Postfix's warning says so).
// A failure to load the files is logged as Postfix does ("TLS client
// initialization failed"); requests then get a context made after the
// jail, as in Postfix (internal/proxy, clientinit.go).
func clientRole(cfg *conf.Config, log logs.Logger) (clientSetup, error) {
	r := tlsconf.NewReader(cfg)
	cs := tlsconf.ClientSettings(r)
	level, use, enforce, perSite, policy := cs.SecurityLevel, cs.UseTLS, cs.EnforceTLS, cs.PerSite, cs.PolicyMaps
	init := cs.Init
	init["cache_type"] = tlsmgr.CacheSMTP
	wildcards := r.Bool("tls_wildcard_matches_multiple_labels")
	global := tlsconf.Global(r) // groups and options, as for the server role
	var lists [5]string         // the cipher grades' lists, as for the server role
	for i, g := range []string{"high", "medium", "low", "export", "null"} {
		lists[i] = r.Str("tls_" + g + "_cipherlist")
	}
	if err := r.Err(); err != nil {
		return clientSetup{}, err
	}
	switch strings.ToLower(level) {
	case "":
		use = use || enforce
	case "none":
		use = false
	case "may", "dane", "encrypt", "fingerprint", "dane-only", "verify", "secure":
		use = true
	default:
		return clientSetup{}, fmt.Errorf("Invalid TLS level \"%s\"", level)
	}
	if !use && perSite == "" && policy == "" {
		return clientSetup{}, nil
	}
	setup := clientSetup{init: init}
	// Postfix logs the group warnings once per TLS context it makes; the
	// other notes were logged with the server role's.
	opts := global.Resolve(logs.Lines(func(w string) {
		if strings.Contains(w, "key exchange group") || strings.Contains(w, "ECDHE curve") {
			log.Warnf("%s", w)
		}
	}))
	if opts.Fatal != "" {
		log.Warnf("%s", opts.Fatal)
		log.Warnf("TLS client initialization failed")
		return setup, nil
	}
	cache, ok, err := clientSessionCache(cfg, log)
	if err != nil || !ok {
		return setup, err
	}
	setup.newClient = func(files map[string]string) (*tlsclient.Client, error) {
		return tlsclient.New(tlsclient.Settings{
			CAfile: files["CAfile"], CApath: files["CApath"], ChainFiles: files["chain_files"],
			CertFile: files["cert_file"], KeyFile: files["key_file"],
			ECCertFile: files["eccert_file"], ECKeyFile: files["eckey_file"],
			DCertFile: files["dcert_file"], DKeyFile: files["dkey_file"],
			WildcardMultipleLabels: wildcards,
			CipherSuites: func(grade string, exclusions []string) ([]uint16, error) {
				list, err := tlspolicy.CipherList(grade, exclusions, lists)
				if err != nil {
					return nil, err
				}
				return tlspolicy.EvalCipherString(list)
			},
			CipherList: func(grade string, exclusions []string) string {
				list, _ := tlspolicy.CipherList(grade, exclusions, lists)
				return list
			},
			SessionCache: cache,
			Curves:       opts.Curves,
			NoTickets:    opts.NoTickets,
		}, log)
	}
	if mask, _ := tlspolicy.ParseLogLevel(init["log_level"]); mask&tlspolicy.LogVerbose != 0 {
		log.Infof("initializing the client-side TLS engine")
	}
	if setup.client, err = setup.newClient(init); err != nil {
		var ca *tlspolicy.CAError
		if errors.As(err, &ca) {
			log.Infof("%v", ca)
			log.Warnf("TLS library problem: %v", ca.Err)
		} else {
			log.Warnf("%v", err)
		}
		log.Warnf("TLS client initialization failed")
	}
	return setup, nil
}

// clientSessionCache does the client role's start-up conversation with
// tlsmgr(8), as Postfix's tls_client_init does: a seed request (its
// failure disables the client role: ok is false), then the cache policy
// of each client type, smtp and lmtp. Where tlsmgr has a session cache
// database for the type (smtp_tls_session_cache_database,
// lmtp_tls_session_cache_database: cachable) with a timeout above 0, the
// sessions of requests with that cache_type go into tlsmgr's cache, so
// that every tlsproxy process resumes them; the others, and all of them
// when cache is nil, stay in each process's own cache.
func clientSessionCache(cfg *conf.Config, log logs.Logger) (cache tlsclient.SessionCache, ok bool, err error) {
	c, err := tlsmgrStart(cfg, log)
	if err != nil || c == nil {
		return nil, false, err
	}
	caches := clientCaches{}
	for _, ct := range []string{tlsmgr.CacheSMTP, tlsmgr.CacheLMTP} {
		cachable, timeout, err := c.Policy(ct)
		if err != nil || !cachable || timeout <= 0 {
			continue
		}
		caches[ct] = tlsmgr.NewClientCache(c, tlsmgr.ClientCacheOptions{CacheType: ct, Lifetime: timeout, Log: log})
	}
	if len(caches) == 0 {
		_ = c.Close()
		return nil, true, nil
	}
	return caches, true, nil
}

// clientCaches are tlsmgr's client session caches by type.
type clientCaches map[string]*tlsmgr.ClientCache

func (m clientCaches) Scoped(cacheType, serverid, scope string, log logs.Logger) tls.ClientSessionCache {
	if cacheType == "" {
		cacheType = tlsmgr.CacheSMTP
	}
	if c := m[cacheType]; c != nil {
		return c.Scoped(serverid, scope, log)
	}
	return nil
}
