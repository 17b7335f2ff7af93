package proxy

import (
	"errors"
	"fmt"
	"strings"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlsclient"
	"tlsproxy/internal/tlspolicy"
)

// The client role's TLS context per request, as Postfix's tlsproxy
// chooses it: the one prepared before the jail when the request's
// TLS_CLIENT_INIT_PROPS name the same files, else (or when that one could
// not be made) one made after the jail from the files the request names,
// kept for later requests naming the same files; the jail may make them
// unreadable, and the request then gets status 0. A request whose init
// props differ from ours and that names any file gets Postfix's three
// warnings, once per distinct list of init props (again after a failure,
// as in Postfix). The other init props (log level, cache type, verify
// depth, digest) apply per session anyway.

// clientFileNames are the init props that name files.
var clientFileNames = []string{"chain_files", "cert_file", "key_file", "dcert_file", "dkey_file",
	"eccert_file", "eckey_file", "CAfile", "CApath"}

// maxRequestClients bounds the contexts kept for requests that name other
// files; beyond it a context is made for each request and dropped.
const maxRequestClients = 64

// maxInitSeen bounds the distinct init props lists remembered; beyond
// it a list counts as new each time.
const maxInitSeen = 1024

// clientFor returns the TLS client for a client-role request, or nil
// (status 0) when none can be had; it logs why.
func (s *Server) clientFor(p *props) *tlsclient.Client {
	files := make(map[string]string, len(clientFileNames))
	var fileKey strings.Builder
	namesFiles := false
	for _, n := range clientFileNames {
		v := p.init[n]
		files[n] = v
		fmt.Fprintf(&fileKey, "%s=%s\x00", n, v)
		namesFiles = namesFiles || v != ""
	}
	sameFiles := true
	var diffs []string
	var initKey strings.Builder
	for _, n := range initClientNames {
		ours, theirs := s.ClientInit[n], p.init[n]
		fmt.Fprintf(&initKey, "%s=%s\x00", n, theirs)
		if ours == theirs {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("(server) '%s=%s' != (client) '%s=%s'", n, ours, n, theirs))
		if _, isFile := files[n]; isFile {
			sameFiles = false
		}
	}

	c := s.Client
	if !sameFiles || c == nil {
		c = nil
		if v, ok := s.requestClients.Load(fileKey.String()); ok {
			c = v.(*tlsclient.Client)
		}
	}
	// Postfix makes a TLS context for each new list of init props: it
	// warns first when the list names files, and says so at the verbose
	// level; after a failure it does both again next time.
	newList := false
	if len(diffs) > 0 {
		if _, seen := s.initSeen.Load(initKey.String()); !seen {
			newList = true
			if s.initSeenCount.Add(1) <= maxInitSeen {
				s.initSeen.Store(initKey.String(), true)
			}
		}
	}
	hint := s.paramsMismatch(p.params) // TLS_CLIENT_PARAMS first, as in Postfix
	if newList && namesFiles {
		s.Log.Warnf("request from tlsproxy client with unexpected settings")
		s.Log.Warnf("%s", strings.Join(diffs, "; "))
		hint = true
	}
	if hint {
		s.Log.Warnf("to avoid this warning, 1) identify the tlsproxy client that is making this request, " +
			"2) configure a custom tlsproxy service with settings that match that tlsproxy client, " +
			"and 3) configure that tlsproxy client with a tlsproxy_service_name setting that resolves " +
			"to that custom tlsproxy service")
	}
	if newList {
		if mask, _ := tlspolicy.ParseLogLevel(p.init["log_level"]); mask&tlspolicy.LogVerbose != 0 {
			s.Log.Infof("initializing the client-side TLS engine")
		}
	}
	if c != nil || s.NewClient == nil {
		return c
	}
	c, err := s.NewClient(files)
	if err != nil {
		logClientInitError(s.Log, err)
		s.initSeen.Delete(initKey.String())
		return nil
	}
	if s.requestClientCount.Add(1) <= maxRequestClients {
		s.requestClients.Store(fileKey.String(), c)
	}
	return c
}

// logClientInitError logs why a client TLS context could not be made:
// Postfix's info line for CA data, Go's reason where Postfix logs
// OpenSSL's error queue.
func logClientInitError(log logs.Logger, err error) {
	var ca *tlspolicy.CAError
	if errors.As(err, &ca) {
		log.Infof("%s", ca.Error())
		if ca.Err != nil {
			log.Warnf("TLS library problem: %v", ca.Err)
		}
		return
	}
	log.Warnf("%v", err)
}
