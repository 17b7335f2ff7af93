package proxy

import (
	"fmt"
	"strings"

	"tlsproxy/internal/tlspolicy"
)

// The server role's TLS context per request for Postfix 3.12 (G5) clients,
// which send their own server settings (postscreen_tls_*) as Postfix
// 3.12's tlsproxy uses them: TLS_SERVER_PARAMS that differ from ours are
// warned about (paramsmatch.go); TLS_SERVER_INIT_PROPS that name other
// files, protocols, digests or client-certificate settings get a context
// made from them after the jail (kept for later requests with the same
// ones), with Postfix's warning when they name files; the log level, and
// TLS_SERVER_START_PROPS' requirecert, cipher grade, exclusions and digest
// apply to the session only (tlspolicy.Server.ForSession).

// serverFileNames are the init props that name files.
var serverFileNames = []string{"chain_files", "cert_file", "key_file", "dcert_file", "dkey_file",
	"eccert_file", "eckey_file", "CAfile", "CApath"}

// maxRequestServers bounds the server contexts kept for requests with
// other settings; beyond it one is made for each request and dropped.
const maxRequestServers = 64

// serverHint is Postfix's third warning for a server-role request with
// other settings.
const serverHint = "to avoid this warning, 1) identify the tlsproxy server that is making this request, " +
	"2) configure a custom tlsproxy service with settings that match that tlsproxy server, " +
	"and 3) configure that tlsproxy server with a tlsproxy_service_name setting that resolves " +
	"to that custom tlsproxy service"

// serverFor returns the server context for a G5 server-role request, or
// nil (status 0) when none can be had; it logs why.
func (s *Server) serverFor(p *props) *tlspolicy.Server {
	hint := s.paramsMismatch(p.params)
	var diffs []string
	var ctxKey, initKey strings.Builder
	same, namesFiles := true, false
	for _, n := range initServerNames {
		ours, theirs := s.ServerInit[n], p.init[n]
		if n == "log_param" {
			continue // Postfix ignores the parameter's name
		}
		fmt.Fprintf(&initKey, "%s=%s\x00", n, theirs)
		if n != "log_level" {
			fmt.Fprintf(&ctxKey, "%s=%s\x00", n, theirs)
			if ours != theirs {
				same = false
			}
		}
		if ours != theirs {
			diffs = append(diffs, fmt.Sprintf("(server) '%s=%s' != (client) '%s=%s'", n, ours, n, theirs))
		}
	}
	for _, n := range serverFileNames {
		namesFiles = namesFiles || p.init[n] != ""
	}
	if len(diffs) > 0 && namesFiles && s.ServerInit != nil {
		if _, seen := s.serverInitSeen.LoadOrStore(initKey.String(), true); !seen {
			if s.serverInitSeenCount.Add(1) > maxInitSeen {
				s.serverInitSeen.Delete(initKey.String())
			}
			s.Log.Warnf("request from tlsproxy server with unexpected settings")
			s.Log.Warnf("%s", strings.Join(diffs, "; "))
			hint = true
		}
	}
	if hint {
		s.Log.Warnf("%s", serverHint)
	}
	base := s.TLS
	if !same && s.ServerInit != nil { // nil: our own settings are not known, use ours
		base = nil
		if v, ok := s.requestServers.Load(ctxKey.String()); ok {
			base = v.(*tlspolicy.Server)
		} else if s.NewServer != nil {
			base = s.NewServer(p.init)
			if base != nil && base.Enabled && s.requestServerCount.Add(1) <= maxRequestServers {
				s.requestServers.Store(ctxKey.String(), base)
			}
		}
	}
	if base == nil || !base.Enabled {
		return nil
	}
	logParam, logLevel := p.init["log_param"], p.init["log_level"]
	if v, ok := p.start["log_param"]; ok { // per peer (postscreen_tls_loglevel_maps), 3.12-20260429 on
		logParam = v
	}
	if v, ok := p.start["log_level"]; ok {
		logLevel = v
	}
	srv, err := base.ForSession(tlspolicy.SessionSettings{
		LogParam:         logParam,
		LogLevel:         logLevel,
		RequireCert:      p.start["requirecert"] == "1",
		CipherGrade:      p.start["cipher_grade"],
		CipherExclusions: p.start["cipher_exclusions"],
		MDAlg:            p.start["mdalg"],
	}, s.Log)
	if err != nil {
		return nil
	}
	return srv
}
