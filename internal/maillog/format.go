package maillog

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxText is the longest message text Postfix logs; longer text is cut.
const maxText = 2000

// severity is one of Postfix's msg_* levels.
type severity int

const (
	sevInfo severity = iota
	sevWarning
	sevError
	sevFatal
	sevPanic
)

// prefix is the text Postfix puts in front of the message per severity.
var prefix = [...]string{
	sevInfo:    "",
	sevWarning: "warning: ",
	sevError:   "error: ",
	sevFatal:   "fatal: ",
	sevPanic:   "panic: ",
}

// level is the syslog level per severity: LOG_INFO, LOG_WARNING, LOG_ERR,
// and LOG_CRIT for both fatal and panic.
var level = [...]int{
	sevInfo:    6,
	sevWarning: 4,
	sevError:   3,
	sevFatal:   2,
	sevPanic:   2,
}

// The two time stamps Postfix daemons write. Through syslog(3) the C
// library formats the stamp, with the day padded by a space ("Nov  4");
// Postfix's own postlogd client (util/msg_logger.c, strftime "%b %d")
// pads it with a zero ("Nov 04"). Both use the C locale's month names.
const (
	syslogStampLayout  = "Jan _2 15:04:05"
	postlogStampLayout = "Jan 02 15:04:05"
)

// cleanText makes text safe for a one-line record: every byte that is
// not printable ASCII and not part of a valid UTF-8 sequence for a
// printable rune becomes '?', so newlines and other control characters
// cannot forge extra lines. The result is then cut to at most maxText
// bytes without splitting a UTF-8 sequence.
func cleanText(text string) string {
	if isClean(text) && len(text) <= maxText {
		return text
	}
	var b strings.Builder
	b.Grow(min(len(text), maxText))
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		ok := r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && r != utf8.RuneError
		if !ok {
			// One '?' per byte, as a byte-wise filter would do.
			r, size = '?', 1
		}
		if b.Len()+size > maxText {
			break
		}
		if ok {
			b.WriteString(text[i : i+size])
		} else {
			b.WriteByte('?')
		}
		i += size
	}
	return b.String()
}

// isClean reports whether text is plain printable ASCII.
func isClean(text string) bool {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// syslogRecord renders one datagram for a local syslogd.
func syslogRecord(facility int, sev severity, t time.Time, ident string, pid int, text string) []byte {
	b := make([]byte, 0, 40+len(ident)+len(text))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+level[sev]), 10)
	b = append(b, '>')
	b = t.AppendFormat(b, syslogStampLayout)
	b = append(b, ' ')
	return appendTagged(b, sev, ident, pid, text)
}

// postlogRecord renders one datagram for postlogd(8).
func postlogRecord(host string, sev severity, t time.Time, ident string, pid int, text string) []byte {
	b := make([]byte, 0, 40+len(host)+len(ident)+len(text))
	b = t.AppendFormat(b, postlogStampLayout)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	return appendTagged(b, sev, ident, pid, text)
}

// stderrRecord renders one -V line.
func stderrRecord(sev severity, ident, text string) []byte {
	b := make([]byte, 0, len(ident)+len(text)+12)
	b = append(b, ident...)
	b = append(b, ": "...)
	b = append(b, prefix[sev]...)
	b = append(b, text...)
	return append(b, '\n')
}

// appendTagged appends "ident[pid]: [severity: ]text".
func appendTagged(b []byte, sev severity, ident string, pid int, text string) []byte {
	b = append(b, ident...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: "...)
	b = append(b, prefix[sev]...)
	return append(b, text...)
}

// firstLabel returns the host name up to its first dot.
func firstLabel(host string) string {
	label, _, _ := strings.Cut(host, ".")
	return label
}
