package interop

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Log analysers that work with patterns (logstash/grok pattern sets for
// Postfix, fail2ban filters) take a tlsproxy line apart by its form: the
// fixed words, and fields such as the client, the cipher or the reason.
// No such pattern set is packaged by Debian or npm, and the tests may not
// fetch one, so the checks here are in our own words: every tlsproxy
// line of the C tlsproxy and of ours from the same sessions is reduced to
// its form (variable fields replaced by placeholders), and the two sets
// of forms must be equal; and each line is sorted into the line types
// such pattern sets tell apart, which must come out the same for both.

// formRules turn a tlsproxy message into its form, in this order.
var formRules = []struct {
	re   *regexp.Regexp
	with string
}{
	// certificate and public key fingerprints
	{regexp.MustCompile(`\b[0-9A-F]{2}(:[0-9A-F]{2}){15,}\b`), "FINGERPRINT"},
	// the source location of a TLS library problem
	{regexp.MustCompile(`:[\w./-]+\.(c|go):\d+:`), ":FILE:LINE:"},
	// [address]:port, host[address]:port, [address]
	{regexp.MustCompile(`\[[0-9a-fA-F:.]+\]:\d+\b`), "[ADDR]:PORT"},
	{regexp.MustCompile(`\[[0-9a-fA-F:.]+\]`), "[ADDR]"},
	{regexp.MustCompile(`[\w.-]+\[ADDR\]`), "HOST[ADDR]"},
	{regexp.MustCompile(`with cipher \S+`), "with cipher CIPHER"},
	{regexp.MustCompile(`key-exchange \S+`), "key-exchange GROUP"},
	{regexp.MustCompile(`\(\d+/\d+ bits\)`), "(N/N bits)"},
	{regexp.MustCompile(`\(\d+ bits\)`), "(N bits)"},
	// queue ids (short and long form)
	{regexp.MustCompile(`\b[0-9A-F]{10,}\b|\b[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{12,}\b`), "QUEUEID"},
	// other numbers standing alone
	{regexp.MustCompile(`(^|[\s=(/\[])\d+\b`), "${1}N"},
}

// lineTypes are the kinds of tlsproxy lines that pattern sets for
// Postfix tell apart, first match wins; the name may use the
// expression's groups.
var lineTypes = []struct {
	name string
	re   *regexp.Regexp
}{
	{"connect", regexp.MustCompile(`^CONNECT (?:from|to) \S*\[[^\]]+\]:\d+$`)},
	{"disconnect", regexp.MustCompile(`^DISCONNECT \S*\[[^\]]+\]:\d+$`)},
	{"established $1 $2", regexp.MustCompile(`^(Anonymous|Untrusted|Trusted|Verified) TLS connection established (from|to) \S*\[[^\]]+\](?::\d+)?: (?:TLSv1(?:\.[0-3])?|SSLv3) with cipher \S+ \(\d+/\d+ bits\)(?: key-exchange \S+(?: \(\S+\))? server-signature \S+ \((?:\d+ bits|\S+)\)(?: server-digest \S+)?(?: client-signature \S+ \((?:\d+ bits|\S+)\)(?: client-digest \S+)?)?)?$`)},
	{"peer certificate", regexp.MustCompile(`^\S*\[[^\]]+\](?::\d+)?: (?:subject_CN|Trusted: subject_CN)=.*$|^\S*\[[^\]]+\](?::\d+)?: (?:cert fingerprint|fingerprint)=.*$`)},
	{"verification failed", regexp.MustCompile(`^(?:\w+ )?certificate verification failed for \S*\[[^\]]+\](?::\d+)?: .+$`)},
	{"handshake failed", regexp.MustCompile(`^TLS handshake failed for service=\S+ peer=\S*\[[^\]]+\]:\d+$`)},
	{"library problem: $1", regexp.MustCompile(`^warning: TLS library problem: error:[0-9A-F]{8}:[A-Za-z ]+::([^:]+):[^:\s]+:\d+:(?:[^:]+:)?$`)},
	{"warning", regexp.MustCompile(`^warning: .+$`)},
}

// tlsproxyMessageRE finds the message of each tlsproxy line (any
// syslog_name prefix, as an instance may set one).
var tlsproxyMessageRE = regexp.MustCompile(`(?m)\bpostfix[\w.-]*/tlsproxy\[\d+\]: (.*)$`)

// lineForm reduces one tlsproxy message to its form.
func lineForm(msg string) string {
	for _, r := range formRules {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return msg
}

// lineType names the kind of a tlsproxy message, "other" if none.
func lineType(msg string) string {
	for _, lt := range lineTypes {
		if m := lt.re.FindStringSubmatchIndex(msg); m != nil {
			return string(lt.re.ExpandString(nil, lt.name, msg, m))
		}
	}
	return "other"
}

// formsOf returns the forms of the tlsproxy lines in log, and how many
// lines there are of each type.
func formsOf(log string) (forms map[string]bool, types map[string]int) {
	forms, types = map[string]bool{}, map[string]int{}
	for _, m := range tlsproxyMessageRE.FindAllStringSubmatch(log, -1) {
		forms[lineForm(m[1])] = true
		types[lineType(m[1])]++
	}
	return forms, types
}

// compareLineForms requires the tlsproxy lines of cLog (the C tlsproxy)
// and oursLog, written for the same sessions, to have the same set of
// forms and the same set of line types. exact also requires the same
// number of lines of each type (sessions whose lines do not depend on
// timing).
func compareLineForms(t *testing.T, what, cLog, oursLog string, exact bool) {
	t.Helper()
	cForms, cTypes := formsOf(cLog)
	oForms, oTypes := formsOf(oursLog)
	if len(cForms) == 0 {
		t.Errorf("%s: no tlsproxy lines in the C tlsproxy's log", what)
		return
	}
	for _, f := range slices.Sorted(maps.Keys(cForms)) {
		if !oForms[f] {
			t.Errorf("%s: only the C tlsproxy logs the form %q", what, f)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(oForms)) {
		if !cForms[f] {
			t.Errorf("%s: only ours logs the form %q", what, f)
		}
	}
	sameTypes := slices.Equal(slices.Sorted(maps.Keys(cTypes)), slices.Sorted(maps.Keys(oTypes)))
	if exact {
		sameTypes = maps.Equal(cTypes, oTypes)
	}
	if !sameTypes {
		t.Errorf("%s: line types differ:\n C:    %v\n ours: %v", what, cTypes, oTypes)
	}
	t.Logf("%s: %d line forms and these line types, the same for both:\n%s", what, len(oForms), typeTable(oTypes))
}

func typeTable(types map[string]int) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(types)) {
		fmt.Fprintf(&b, "  %4d %s\n", types[name], name)
	}
	return b.String()
}

// TestLineForms checks the form and type rules themselves on lines the
// C tlsproxy writes.
func TestLineForms(t *testing.T) {
	tests := []struct {
		msg, form, kind string
	}{
		{"CONNECT from [127.0.0.1]:39452", "CONNECT from [ADDR]:PORT", "connect"},
		{"DISCONNECT [::1]:39452", "DISCONNECT [ADDR]:PORT", "disconnect"},
		{"CONNECT to [127.0.0.1]:20003", "CONNECT to [ADDR]:PORT", "connect"},
		{"Anonymous TLS connection established from [127.0.0.1]:39452: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
			"Anonymous TLS connection established from [ADDR]:PORT: TLSv1.3 with cipher CIPHER (N/N bits) key-exchange GROUP server-signature RSA-PSS (N bits) server-digest SHA256",
			"established Anonymous from"},
		{"Verified TLS connection established to localhost[127.0.0.1]:20003: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 server-signature ECDSA (prime256v1) server-digest SHA256",
			"Verified TLS connection established to HOST[ADDR]:PORT: TLSv1.3 with cipher CIPHER (N/N bits) key-exchange GROUP server-signature ECDSA (prime256v1) server-digest SHA256",
			"established Verified to"},
		{"Untrusted TLS connection established from [127.0.0.1]:39452: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
			"Untrusted TLS connection established from [ADDR]:PORT: TLSv1.2 with cipher CIPHER (N/N bits)", "established Untrusted from"},
		{"certificate verification failed for localhost[127.0.0.1]:20003: untrusted issuer /CN=Other Sink CA",
			"certificate verification failed for HOST[ADDR]:PORT: untrusted issuer /CN=Other Sink CA", "verification failed"},
		{"server certificate verification failed for localhost[127.0.0.1]:20003: num=62:hostname mismatch",
			"server certificate verification failed for HOST[ADDR]:PORT: num=N:hostname mismatch", "verification failed"},
		{"TLS handshake failed for service=smtpd peer=[127.0.0.1]:39452", "TLS handshake failed for service=smtpd peer=[ADDR]:PORT", "handshake failed"},
		{"warning: TLS library problem: error:0A000412:SSL routines::sslv3 alert bad certificate:../ssl/record/rec_layer_s3.c:1601:SSL alert number 42:",
			"warning: TLS library problem: error:0A000412:SSL routines::sslv3 alert bad certificate:FILE:LINE:SSL alert number N:",
			"library problem: sslv3 alert bad certificate"},
		{"warning: TLS library problem: error:0A00009C:SSL routines::http request:crypto/tls/conn.go:0:",
			"warning: TLS library problem: error:0A00009C:SSL routines::http request:FILE:LINE:", "library problem: http request"},
		{"warning: localhost[127.0.0.1]:20003: unusable TLSA RR: 3 1 255 0011",
			"warning: HOST[ADDR]:PORT: unusable TLSA RR: N N N N", "warning"},
		{"[127.0.0.1]:39452: subject_CN=client.test, issuer_CN=Test CA, fingerprint=" + strings.Repeat("AB:", 31) + "AB",
			"[ADDR]:PORT: subject_CN=client.test, issuer_CN=Test CA, fingerprint=FINGERPRINT", "peer certificate"},
		{"3F2A1B4C5D: something", "QUEUEID: something", "other"},
	}
	for _, tc := range tests {
		if got := lineForm(tc.msg); got != tc.form {
			t.Errorf("form of %q:\n got %q\nwant %q", tc.msg, got, tc.form)
		}
		if got := lineType(tc.msg); got != tc.kind {
			t.Errorf("type of %q: got %q, want %q", tc.msg, got, tc.kind)
		}
	}
}
