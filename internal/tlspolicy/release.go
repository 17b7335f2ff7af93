package tlspolicy

import (
	"sync/atomic"

	"tlsproxy/internal/pfversion"
)

// tlsLog is how the installed Postfix release reports handshakes. It is
// process-wide, like the release; nil means 3.7's.
var tlsLog atomic.Pointer[pfversion.TLSLog]

// SetRelease makes the summary line and the key-exchange attributes
// (Info) those of Postfix release v; the zero Version means 3.7's. The
// process calls it once at start-up, before its first handshake.
func SetRelease(v pfversion.Version) {
	l := v.TLSLog()
	tlsLog.Store(&l)
}

// releaseLog returns what SetRelease chose.
func releaseLog() pfversion.TLSLog {
	if l := tlsLog.Load(); l != nil {
		return *l
	}
	return pfversion.Version{}.TLSLog()
}
