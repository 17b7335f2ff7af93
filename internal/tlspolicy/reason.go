package tlspolicy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
)

// This file words a failed TLS handshake (or a failed record later on) the
// way Postfix's tlsproxy logs it when OpenSSL reports the failure: Postfix
// empties OpenSSL's error queue with one "TLS library problem: ..." warning
// per entry, each entry being
//
//	error:CODE:LIBRARY::REASON:FILE:LINE:[DATA:]
//
// as OpenSSL 3 prints an error code (the function field between the two
// colons is empty from 3.0 on) and Postfix appends the source location
// and optional data. Alert rules, fail2ban filters and pflogsumm key on
// the reason words, so the common failures get the code and reason
// OpenSSL would report for the same bytes on the wire (checked side by
// side with the C tlsproxy of Debian 12, OpenSSL 3.0, and Debian 13,
// OpenSSL 3.5, through real postscreen in internal/interop).
//
// FILE and LINE name the source that found the problem. For the C
// tlsproxy that is an OpenSSL file ("../ssl/record/ssl3_record.c:341");
// ours names the file of Go's crypto/tls that makes the check
// ("crypto/tls/conn.go"), with line 0: the line changes with every Go
// release and an error value does not carry it. The fields keep their
// form, a relative source path and a number.
//
// Failures without an OpenSSL counterpart in the table keep Go's text,
// with protocol version codes written as names (TLSv1.2, not 303).
//
// OpenSSL 3.2 rewrote the record layer and renamed some reasons; what
// differs between the releases checked (3.0 and 3.5) is an opensslWords
// setting (SetOpenSSLVersion).

// goTLS is the source directory of the files named in FILE.
const goTLS = "crypto/tls/"

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
	errNoSuitableKeyShare  = opensslError{0x0A000065, libSSL, "no suitable key share"}
	errHTTPRequest         = opensslError{0x0A00009C, libSSL, "http request"}
	errHTTPSProxyRequest   = opensslError{0x0A00009B, libSSL, "https proxy request"}
	errWrongVersionNumber  = opensslError{0x0A00010B, libSSL, "wrong version number"}
	errUnexpectedMessage   = opensslError{0x0A0000F4, libSSL, "unexpected message"}
	errBadRecordMAC        = opensslError{0x0A000119, libSSL, "decryption failed or bad record mac"}
	errLengthMismatch      = opensslError{0x0A00009F, libSSL, "length mismatch"}
	errPacketTooLong       = opensslError{0x0A0000C6, libSSL, "packet length too long"}
	errDataTooLong         = opensslError{0x0A000092, libSSL, "data length too long"}
	errExcessiveMessage    = opensslError{0x0A000098, libSSL, "excessive message size"}
	errInappropriateFallbk = opensslError{0x0A000175, libSSL, "inappropriate fallback"}
	errRecordLayerFailure  = opensslError{0x0A000139, libSSL, "record layer failure"}
	errCipherOperation     = opensslError{0x1C800066, libProvider, "cipher operation failed"}
)

// alertReason holds OpenSSL 3.0's words for a TLS alert received from
// the peer; its reason code is 1000 plus the alert number. From 3.2 on
// the "sslv3 alert" words read "ssl/tls alert".
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

// opensslWords are the differences between OpenSSL releases that show
// in the entries.
type opensslWords struct {
	// recordLayer32: OpenSSL 3.2's record layer. An oversized record
	// is "data length too long"; an error of the record layer that
	// sends an alert is followed by "record layer failure"; "sslv3
	// alert" reads "ssl/tls alert".
	recordLayer32 bool
}

// words is the setting in use, 3.0's unless SetOpenSSLVersion said
// otherwise.
var words atomic.Pointer[opensslWords]

// SetOpenSSLVersion makes LibraryProblems use the words of the OpenSSL
// release that version names, as OpenSSL_version(OPENSSL_VERSION) writes
// it ("OpenSSL 3.5.9 29 Sep 2026"): that of the libcrypto this process
// runs with, which is the system's, the library Postfix's own tlsproxy
// would use. 3.2 and later get 3.2's words; anything else (an earlier
// release, other text such as a pure-Go build's) keeps 3.0's. It
// reports whether 3.2's words are now in use. Call it before serving.
func SetOpenSSLVersion(version string) bool {
	w := &opensslWords{recordLayer32: openSSL32(version)}
	words.Store(w)
	return w.recordLayer32
}

// openSSL32 reports whether version names OpenSSL 3.2 or later.
func openSSL32(version string) bool {
	rest, ok := strings.CutPrefix(version, "OpenSSL ")
	if !ok {
		return false
	}
	num, _, _ := strings.Cut(rest, " ")
	parts := strings.SplitN(num, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 3 || major == 3 && minor >= 2
}

func currentWords() opensslWords {
	if w := words.Load(); w != nil {
		return *w
	}
	return opensslWords{}
}

// format renders e as Postfix prints one queue entry found in Go's file
// goFile, data included.
func (e opensslError) format(w opensslWords, goFile, data string) string {
	reason := e.reason
	if w.recordLayer32 {
		if r, ok := strings.CutPrefix(reason, "sslv3 alert "); ok {
			reason = "ssl/tls alert " + r
		}
	}
	s := fmt.Sprintf("error:%08X:%s::%s:%s%s:0:", e.code, e.lib, reason, goTLS, goFile)
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
	r, ok := opensslReason(err, vers)
	if !ok {
		return []string{VersionNames(err.Error())}
	}
	w := currentWords()
	if r.err == errPacketTooLong && w.recordLayer32 {
		r.err = errDataTooLong
	}
	var out []string
	if r.err == errBadRecordMAC && vers != 0 && vers <= tls.VersionTLS12 && isGCM(suite) {
		// OpenSSL's AES-GCM provider queues its own entry first
		// (in TLS 1.2 only; TLS 1.3 records fail without it).
		out = append(out, errCipherOperation.format(w, r.file, ""))
	}
	out = append(out, r.err.format(w, r.file, r.data))
	if r.recordAlert && w.recordLayer32 {
		out = append(out, errRecordLayerFailure.format(w, r.file, ""))
	}
	return out
}

// reason is what opensslReason found.
type reason struct {
	err  opensslError
	data string // what OpenSSL attaches (the number of a received alert)
	file string // Go's file that found the problem
	// recordAlert: a record the record layer rejects with an alert
	// (not a first record that is no TLS at all, which gets none).
	recordAlert bool
}

// opensslReason finds OpenSSL's reason for err.
func opensslReason(err error, vers uint16) (reason, bool) {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && strings.HasPrefix(rh.Msg, "first record does not look like a TLS handshake") {
		return reason{err: recordHeaderReason(rh), file: "conn.go"}, true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		n, isAlert := goAlert[op.Err.Error()]
		switch {
		case !isAlert:
		case op.Op == "remote error" && vers == 0:
			// An alert before any ClientHello: OpenSSL does not
			// expect an alert record yet.
			return reason{err: errUnexpectedMessage, file: "conn.go"}, true
		case op.Op == "remote error":
			words, ok := alertReason[n]
			if !ok {
				words = "reason(" + strconv.Itoa(1000+int(n)) + ")"
			}
			return reason{err: opensslError{0x0A000000 | uint32(1000+int(n)), libSSL, words},
				data: "SSL alert number " + strconv.Itoa(int(n)), file: "conn.go"}, true
		case op.Op == "local error" && n == alertBadRecordMAC:
			return reason{err: errBadRecordMAC, file: "conn.go", recordAlert: true}, true
		case op.Op == "local error" && n == alertUnexpectedMessage:
			return reason{err: errUnexpectedMessage, file: "conn.go"}, true
		case op.Op == "local error" && n == alertDecodeError:
			return reason{err: errLengthMismatch, file: "conn.go"}, true
		}
	}
	msg := err.Error()
	for _, p := range goPrefixes {
		if strings.HasPrefix(msg, p.prefix) {
			return reason{err: p.err, file: p.file, recordAlert: p.recordAlert}, true
		}
	}
	return reason{}, false
}

// goPrefixes maps crypto/tls's plain error texts (made with errors.New or
// fmt.Errorf, so only their words tell them apart) to OpenSSL's reasons,
// with the file of crypto/tls that makes the text.
var goPrefixes = []struct {
	prefix      string
	err         opensslError
	file        string
	recordAlert bool
}{
	{"tls: client offered only unsupported versions", errUnsupportedProtocol, "handshake_server.go", false},
	{"tls: unsupported SSLv2 handshake received", errUnsupportedProtocol, "conn.go", false},
	{"tls: server selected unsupported protocol version", errUnsupportedProtocol, "handshake_client.go", false},
	{"tls: no cipher suite supported by both client and server", errNoSharedCipher, "handshake_server.go", false},
	// TLS 1.3 with no key-exchange group in common (e.g. an X25519-only
	// client and tls_eecdh_auto_curves = prime256v1).
	{"tls: no key exchanges supported by both client and server", errNoSuitableKeyShare, "handshake_server_tls13.go", false},
	{"tls: received unexpected handshake message", errUnexpectedMessage, "common.go", false},
	{"tls: received record with version", errWrongVersionNumber, "conn.go", true},
	{"tls: oversized record received", errPacketTooLong, "conn.go", true},
	{"tls: handshake message of length", errExcessiveMessage, "conn.go", false},
	{"tls: client using inappropriate protocol fallback", errInappropriateFallbk, "handshake_server.go", false},
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
