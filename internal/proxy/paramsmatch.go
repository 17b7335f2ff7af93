package proxy

import (
	"fmt"
	"strings"

	"tlsproxy/internal/attr"
)

// A request's TLS_CLIENT_PARAMS (and, from the 3.12 snapshots,
// TLS_SERVER_PARAMS) are the global tls_* settings of the Postfix program
// that sends it. Postfix's tlsproxy never applies them; it compares them
// with its own and, the first time it sees a list that differs, warns
// "request from tlsproxy client with unexpected settings" and lists each
// differing setting. So does this file, by setting name: a name we do not
// know (a newer release's) is not compared.

// maxParamsSeen bounds the distinct params lists remembered; beyond it
// a list is compared (and warned about) each time.
const maxParamsSeen = 1024

// paramsMismatch compares a request's params list with Server.Params and
// logs the first two of Postfix's warning lines when they differ (the
// caller adds the hint line). It reports whether it warned.
func (s *Server) paramsMismatch(params attr.List) bool {
	if s.Params == nil || len(params) == 0 {
		return false
	}
	var key strings.Builder
	for _, a := range params {
		fmt.Fprintf(&key, "%s=%s\n", a.Name, a.Value)
	}
	if _, seen := s.paramsSeen.LoadOrStore(key.String(), true); seen {
		return false
	}
	if s.paramsSeenCount.Add(1) > maxParamsSeen {
		s.paramsSeen.Delete(key.String())
	}
	var diffs []string
	for _, a := range params {
		ours, ok := s.Params[a.Name]
		if !ok || ours == a.Value {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("(server) '%s=%s' != (client) '%s=%s'", a.Name, ours, a.Name, a.Value))
	}
	if len(diffs) == 0 {
		return false
	}
	s.Log.Warnf("request from tlsproxy client with unexpected settings")
	s.Log.Warnf("%s", strings.Join(diffs, "; "))
	return true
}
