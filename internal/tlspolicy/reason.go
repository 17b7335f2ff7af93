package tlspolicy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// This file words a failed TLS handshake (or a failed record later on) the
// way Postfix's tlsproxy logs it when OpenSSL reports the failure: Postfix
// empties OpenSSL's error queue with one "TLS library problem: ..." warning
// per entry, each entry being
//
//	error:CODE:LIBRARY::REASON:FILE:LINE:[DATA:]
//
// as OpenSSL 3 prints an error code and Postfix appends the source
// location and optional data. Alert rules, fail2ban filters and pflogsumm
// key on the reason words, so the common failures get the code and reason
// OpenSSL would report for the same bytes on the wire (checked side by side
// with Debian's tlsproxy through real postscreen in internal/interop).
// FILE and LINE name an OpenSSL source location there; ours names the Go
// package that found the problem and line 0, keeping the field count.
// Failures without an OpenSSL counterpart in the table keep Go's text,
// with protocol version codes written as names (TLSv1.2, not 303).

// libraryFile and libraryLine fill the source location fields.
const (
	libraryFile = "crypto/tls"
	libraryLine = 0
)

// opensslError is one entry of OpenSSL's error queue: a packed code
// (library << 23 | reason), the library's name and the reason's words.
type opensslError struct {
	code   uint32
	lib    string
	reason string
}

const (
	libSSL      = "SSL routines"
	libProvider = "Provider routines"
)

// The reasons mapped below, with OpenSSL 3's codes and words (as
// `openssl errstr CODE` prints them).
var (
	errUnsupportedProtocol = opensslError{0x0A000102, libSSL, "unsupported protocol"}
	errNoSharedCipher      = opensslError{0x0A0000C1, libSSL, "no shared cipher"}
	errHTTPRequest         = opensslError{0x0A00009C, libSSL, "http request"}
	errHTTPSProxyRequest   = opensslError{0x0A00009B, libSSL, "https proxy request"}
	errWrongVersionNumber  = opensslError{0x0A00010B, libSSL, "wrong version number"}
	errUnexpectedMessage   = opensslError{0x0A0000F4, libSSL, "unexpected message"}
	errBadRecordMAC        = opensslError{0x0A000119, libSSL, "decryption failed or bad record mac"}
	errLengthMismatch      = opensslError{0x0A00009F, libSSL, "length mismatch"}
	errPacketTooLong       = opensslError{0x0A0000C6, libSSL, "packet length too long"}
	errExcessiveMessage    = opensslError{0x0A000098, libSSL, "excessive message size"}
	errInappropriateFallbk = opensslError{0x0A000175, libSSL, "inappropriate fallback"}
	errCipherOperation     = opensslError{0x1C800066, libProvider, "cipher operation failed"}
)

// alertReason holds OpenSSL's words for a TLS alert received from the
// peer; its reason code is 1000 plus the alert number.
var alertReason = map[uint8]string{
	10:  "sslv3 alert unexpected message",
	20:  "sslv3 alert bad record mac",
	21:  "tlsv1 alert decryption failed",
	22:  "tlsv1 alert record overflow",
	30:  "sslv3 alert decompression failure",
	40:  "sslv3 alert handshake failure",
	41:  "sslv3 alert no certificate",
	42:  "sslv3 alert bad certificate",
	43:  "sslv3 alert unsupported certificate",
	44:  "sslv3 alert certificate revoked",
	45:  "sslv3 alert certificate expired",
	46:  "sslv3 alert certificate unknown",
	47:  "sslv3 alert illegal parameter",
	48:  "tlsv1 alert unknown ca",
	49:  "tlsv1 alert access denied",
	50:  "tlsv1 alert decode error",
	51:  "tlsv1 alert decrypt error",
	60:  "tlsv1 alert export restriction",
	70:  "tlsv1 alert protocol version",
	71:  "tlsv1 alert insufficient security",
	80:  "tlsv1 alert internal error",
	86:  "tlsv1 alert inappropriate fallback",
	90:  "tlsv1 alert user cancelled",
	100: "tlsv1 alert no renegotiation",
	109: "tlsv13 alert missing extension",
	110: "tlsv1 unsupported extension",
	111: "tlsv1 certificate unobtainable",
	112: "tlsv1 unrecognized name",
	113: "tlsv1 bad certificate status response",
	114: "tlsv1 bad certificate hash value",
	115: "tlsv1 alert unknown psk identity",
	116: "tlsv13 alert certificate required",
	120: "tlsv1 alert no application protocol",
}

// goAlert maps crypto/tls's text of an alert ("tls: bad certificate") to
// the alert number: crypto/tls reports alerts as a net.OpError ("remote
// error" or "local error") around an unexported alert type whose text is
// that of tls.AlertError.
var goAlert = func() map[string]uint8 {
	m := make(map[string]uint8, 256)
	for n := range 256 {
		m[tls.AlertError(uint8(n)).Error()] = uint8(n)
	}
	return m
}()

// Go's alert numbers that the mapping needs by name.
const (
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertDecodeError       = 50
)

// format renders e as Postfix prints one queue entry, data included.
func (e opensslError) format(data string) string {
	s := fmt.Sprintf("error:%08X:%s::%s:%s:%d:", e.code, e.lib, e.reason, libraryFile, libraryLine)
	if data != "" {
		s += data + ":"
	}
	return s
}

// LibraryProblems returns the texts to log, each after "TLS library
// problem: ", for err, the error of a TLS handshake or of a TLS record
// read that failed on a connection whose negotiated protocol version and
// cipher suite so far are vers and suite (0 when not yet chosen; see
// tls.ConnectionState). It is meant for errors that are not the peer
// going away or a time limit, which Postfix words differently.
func LibraryProblems(err error, vers, suite uint16) []string {
	if err == nil {
		return nil
	}
	if e, data, ok := opensslReason(err, vers); ok {
		if e == errBadRecordMAC && vers != 0 && vers <= tls.VersionTLS12 && isGCM(suite) {
			// OpenSSL's AES-GCM provider queues its own entry first
			// (in TLS 1.2 only; TLS 1.3 records fail without it).
			return []string{errCipherOperation.format(""), e.format(data)}
		}
		return []string{e.format(data)}
	}
	return []string{VersionNames(err.Error())}
}

// opensslReason finds OpenSSL's reason for err, with the data OpenSSL
// attaches (the alert number of a received alert).
func opensslReason(err error, vers uint16) (opensslError, string, bool) {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && strings.HasPrefix(rh.Msg, "first record does not look like a TLS handshake") {
		return recordHeaderReason(rh), "", true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		n, isAlert := goAlert[op.Err.Error()]
		switch {
		case !isAlert:
		case op.Op == "remote error" && vers == 0:
			// An alert before any ClientHello: OpenSSL does not
			// expect an alert record yet.
			return errUnexpectedMessage, "", true
		case op.Op == "remote error":
			words, ok := alertReason[n]
			if !ok {
				words = "reason(" + strconv.Itoa(1000+int(n)) + ")"
			}
			return opensslError{0x0A000000 | uint32(1000+int(n)), libSSL, words}, "SSL alert number " + strconv.Itoa(int(n)), true
		case op.Op == "local error" && n == alertBadRecordMAC:
			return errBadRecordMAC, "", true
		case op.Op == "local error" && n == alertUnexpectedMessage:
			return errUnexpectedMessage, "", true
		case op.Op == "local error" && n == alertDecodeError:
			return errLengthMismatch, "", true
		}
	}
	msg := err.Error()
	for _, p := range goPrefixes {
		if strings.HasPrefix(msg, p.prefix) {
			return p.err, "", true
		}
	}
	return opensslError{}, "", false
}

// goPrefixes maps crypto/tls's plain error texts (made with errors.New or
// fmt.Errorf, so only their words tell them apart) to OpenSSL's reasons.
var goPrefixes = []struct {
	prefix string
	err    opensslError
}{
	{"tls: client offered only unsupported versions", errUnsupportedProtocol},
	{"tls: unsupported SSLv2 handshake received", errUnsupportedProtocol},
	{"tls: server selected unsupported protocol version", errUnsupportedProtocol},
	{"tls: no cipher suite supported by both client and server", errNoSharedCipher},
	{"tls: received unexpected handshake message", errUnexpectedMessage},
	{"tls: received record with version", errWrongVersionNumber},
	{"tls: oversized record received", errPacketTooLong},
	{"tls: handshake message of length", errExcessiveMessage},
	{"tls: client using inappropriate protocol fallback", errInappropriateFallbk},
}

// recordHeaderReason words a first record that is no TLS handshake record
// as OpenSSL does: an HTTP request or proxy CONNECT by its first words,
// a version that is no SSL 3 / TLS version, or a record type other than
// handshake before the ClientHello.
func recordHeaderReason(rh tls.RecordHeaderError) opensslError {
	h := string(rh.RecordHeader[:])
	switch {
	case strings.HasPrefix(h, "GET "), strings.HasPrefix(h, "POST "),
		strings.HasPrefix(h, "HEAD "), strings.HasPrefix(h, "PUT "):
		return errHTTPRequest
	case h == "CONNE":
		return errHTTPSProxyRequest
	case rh.RecordHeader[1] != 3:
		return errWrongVersionNumber
	case rh.RecordHeader[0] != 22:
		return errUnexpectedMessage
	}
	return errWrongVersionNumber
}

// isGCM reports whether suite is a TLS 1.2 AES-GCM suite.
func isGCM(suite uint16) bool {
	switch suite {
	case tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return true
	}
	return false
}

// VersionNames rewrites crypto/tls's hexadecimal protocol version codes in
// an error text ("versions: [302 301]", "version 304") as Postfix's
// protocol names ("versions: [TLSv1.1 TLSv1]"). Only words that follow
// "version" or "versions" are touched.
func VersionNames(msg string) string {
	i := strings.Index(msg, "version")
	if i < 0 {
		return msg
	}
	head, tail := msg[:i], msg[i:]
	var b strings.Builder
	b.WriteString(head)
	for len(tail) > 0 {
		j := strings.IndexAny(tail, "0123456789abcdef")
		if j < 0 {
			b.WriteString(tail)
			break
		}
		// A token: a run of hex digits between non-alphanumerics.
		k := j
		for k < len(tail) && strings.IndexByte("0123456789abcdef", tail[k]) >= 0 {
			k++
		}
		word := tail[j:k]
		standalone := (j == 0 || !isAlnum(tail[j-1])) && (k == len(tail) || !isAlnum(tail[k]))
		b.WriteString(tail[:j])
		if name, ok := versionName[word]; ok && standalone {
			b.WriteString(name)
		} else {
			b.WriteString(word)
		}
		tail = tail[k:]
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// versionName is crypto/tls's %x of a protocol version, by Postfix's name.
var versionName = map[string]string{
	"300": "SSLv3",
	"301": "TLSv1",
	"302": "TLSv1.1",
	"303": "TLSv1.2",
	"304": "TLSv1.3",
}
