package tlspolicy

import (
	"fmt"
	"strings"
	"sync"

	"tlsproxy/internal/logs"
)

// LogMask selects TLS logging features, like Postfix's TLS_LOG_* bits.
type LogMask uint32

// Log features (docs/configuration.md, "TLS log levels").
const (
	LogSummary   LogMask = 1 << iota // one summary line per session
	LogUntrusted                     // details of untrusted peer certificates
	LogPeerCert                      // peer certificate subject/issuer/fingerprints
	LogCertMatch                     // certificate name matching (client role)
	LogVerbose                       // Postfix TLS library verbose logging
	LogCache                         // session cache and ticket activity
	LogDebug                         // TLS library state/alert logging
	LogTLSPkts                       // handshake packet dumps
	LogAllPkts                       // all packet dumps
	LogDane                          // DANE policy construction (client role)
	LogTrace                         // SSL_trace() output (3.12 "trace"): never produced here

	LogNone LogMask = 0
	// Numeric levels 1..4.
	LogLevel1 = LogSummary
	LogLevel2 = LogLevel1 | LogVerbose | LogCache | LogDebug
	LogLevel3 = LogLevel2 | LogTLSPkts
	LogLevel4 = LogLevel3 | LogAllPkts
)

// logKeywords maps the (case-insensitive) keywords of *_tls_loglevel.
var logKeywords = map[string]LogMask{
	"0": LogNone, "none": LogNone,
	"1": LogLevel1, "routine": LogLevel1,
	"2": LogLevel2, "debug": LogLevel2,
	"3": LogLevel3, "ssl-expert": LogLevel3,
	"4": LogLevel4, "ssl-developer": LogLevel4,
	"5": LogLevel4, "6": LogLevel4, "7": LogLevel4, "8": LogLevel4, "9": LogLevel4,
	"summary":                   LogSummary,
	"untrusted":                 LogUntrusted,
	"peercert":                  LogPeerCert,
	"certmatch":                 LogCertMatch,
	"verbose":                   LogVerbose,
	"cache":                     LogCache,
	"dane":                      LogDane,
	"ssl-debug":                 LogDebug,
	"ssl-handshake-packet-dump": LogTLSPkts,
	"ssl-session-packet-dump":   LogTLSPkts | LogAllPkts,
	"trace":                     LogTrace,
}

// LogLevelError reports an unknown keyword in a TLS log level list.
type LogLevelError struct {
	Value string // the unknown keyword
	List  string // the whole setting
}

func (e *LogLevelError) Error() string {
	return fmt.Sprintf("unknown TLS log level value %q in %q", e.Value, e.List)
}

// Warning is the text Postfix logs for this error when parsing the
// parameter param (its name-mask warning).
func (e *LogLevelError) Warning(param string) string {
	return fmt.Sprintf("unknown %s value \"%s\" in \"%s\"", param, e.Value, e.List)
}

// ParseLogLevel converts a TLS log level setting (numbers and keywords,
// separated by commas or white space, OR-ed) into a LogMask. Like Postfix,
// an unknown keyword makes the whole result 0.
func ParseLogLevel(s string) (LogMask, error) {
	var mask LogMask
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		m, ok := logKeywords[strings.ToLower(tok)]
		if !ok {
			return 0, &LogLevelError{Value: tok, List: s}
		}
		mask |= m
	}
	return mask, nil
}

// traceWarned remembers the "param=level" settings already warned about
// (Postfix warns once per setting per process); bounded.
var (
	traceMu     sync.Mutex
	traceWarned = map[string]bool{}
)

// DropTrace clears the "trace" bit of mask (Postfix 3.12: SSL_trace()
// output, which Go's crypto/tls cannot produce) and, the first time for a
// param and level, logs Postfix's warning of a build without SSL_trace().
// The other keywords of the level keep their effect.
func DropTrace(mask LogMask, param, level string, log logs.Logger) LogMask {
	if mask&LogTrace == 0 {
		return mask
	}
	key := param + "=" + level
	traceMu.Lock()
	first := !traceWarned[key]
	if first && len(traceWarned) < 1024 {
		traceWarned[key] = true
	}
	traceMu.Unlock()
	if first && log != nil {
		log.Warnf("%s: ignoring \"trace\" log level: SSL_trace() is not available in this build", param)
	}
	return mask &^ LogTrace
}
