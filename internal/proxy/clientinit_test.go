package proxy

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// hintLine is Postfix's third warning about a request with other settings.
const hintLine = "warning: to avoid this warning, 1) identify the tlsproxy client that is making this request, " +
	"2) configure a custom tlsproxy service with settings that match that tlsproxy client, " +
	"and 3) configure that tlsproxy client with a tlsproxy_service_name setting that resolves " +
	"to that custom tlsproxy service"

// TestClientInitProps: which TLS context a client-role request gets, and
// what is logged, when its TLS_CLIENT_INIT_PROPS differ from tlsproxy's
// own (as checked against Debian's tlsproxy with posttls-finger -X): a
// request naming other files gets the three warnings (after CONNECT) and a
// context made from its files, kept for the next such request; files that
// cannot be read get Postfix's info line and status 0, and the warnings
// again next time; other settings without files are silent.
func TestClientInitProps(t *testing.T) {
	newFixture(t, nil) // makes caPEM
	dir := t.TempDir()
	pftest.WriteFiles(t, dir, map[string][]byte{"ca.pem": caPEM})
	ca, missing := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "missing.pem")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ours := func(caFile string) map[string]string {
		return map[string]string{"log_param": "smtp_tls_loglevel", "log_level": "1", "verifydepth": "9",
			"cache_type": "smtp", "CAfile": caFile, "mdalg": "sha256"}
	}
	warnings := func(diff string) []string {
		return []string{"warning: request from tlsproxy client with unexpected settings", "warning: " + diff, hintLine}
	}
	type request struct {
		props   map[string]string // init props overriding ours("")
		status  int
		summary string   // the summary line's start; "" for status 0
		lines   []string // further lines, in order, after CONNECT
		built   int      // NewClient calls so far
	}
	for _, tc := range []struct {
		name     string
		init     map[string]string // ClientInit; nil: role off
		preJail  string            // CAfile of the pre-jail Client; "-": none
		requests []request
	}{
		{name: "same settings", init: ours(ca), preJail: ca, requests: []request{
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established"},
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established"},
		}},
		{name: "other log level, no files", init: ours(""), preJail: "", requests: []request{
			{props: map[string]string{"log_level": "2", "log_param": "-L option"}, status: 1,
				summary: "Untrusted TLS connection established"},
		}},
		{name: "other CAfile", init: ours(""), preJail: "", requests: []request{
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established", built: 1,
				lines: warnings("(server) 'CAfile=' != (client) 'CAfile=" + ca + "'")},
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established", built: 1},
			// Same files, other log settings: warned once more, no new context.
			{props: map[string]string{"CAfile": ca, "log_level": "routine,certmatch", "log_param": "-L option"}, status: 1,
				summary: "Trusted TLS connection established", built: 1,
				lines: warnings("(server) 'log_param=smtp_tls_loglevel' != (client) 'log_param=-L option'; " +
					"(server) 'log_level=1' != (client) 'log_level=routine,certmatch'; " +
					"(server) 'CAfile=' != (client) 'CAfile=" + ca + "'")},
		}},
		{name: "unreadable CAfile", init: ours(""), preJail: "", requests: []request{
			{props: map[string]string{"CAfile": missing}, status: 0, built: 1,
				lines: append(warnings("(server) 'CAfile=' != (client) 'CAfile="+missing+"'"),
					`cannot load Certification Authority data, CAfile="`+missing+`": disabling TLS support`,
					"warning: TLS library problem: open "+missing+": no such file or directory",
					"TLS handshake failed for service=")},
			{props: map[string]string{"CAfile": missing}, status: 0, built: 2,
				lines: append(warnings("(server) 'CAfile=' != (client) 'CAfile="+missing+"'"),
					`cannot load Certification Authority data, CAfile="`+missing+`": disabling TLS support`)},
		}},
		// Files a request names are read only when regular:
		// a device that never ends and a FIFO nobody writes to are
		// refused at once, with Postfix's line and status 0.
		{name: "CAfile /dev/zero", init: ours(""), preJail: "", requests: []request{
			{props: map[string]string{"CAfile": "/dev/zero"}, status: 0, built: 1,
				lines: append(warnings("(server) 'CAfile=' != (client) 'CAfile=/dev/zero'"),
					`cannot load Certification Authority data, CAfile="/dev/zero": disabling TLS support`,
					"warning: TLS library problem: read /dev/zero: not a regular file")},
		}},
		{name: "CAfile FIFO", init: ours(""), preJail: "", requests: []request{
			{props: map[string]string{"CAfile": fifo}, status: 0, built: 1,
				lines: append(warnings("(server) 'CAfile=' != (client) 'CAfile="+fifo+"'"),
					`cannot load Certification Authority data, CAfile="`+fifo+`": disabling TLS support`,
					"warning: TLS library problem: read "+fifo+": not a regular file")},
		}},
		{name: "pre-jail context failed", init: ours(ca), preJail: "-", requests: []request{
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established", built: 1},
			{props: map[string]string{"CAfile": ca}, status: 1, summary: "Trusted TLS connection established", built: 1},
		}},
		{name: "role off", init: nil, preJail: "-", requests: []request{
			{props: map[string]string{}, status: 0, lines: []string{"warning: TLS client role is disabled by configuration"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, scfg := clientFixture(t)
			fx.srv.Client, fx.srv.ClientInit = nil, tc.init
			if tc.preJail != "-" {
				c, err := tlsclient.New(tlsclient.Settings{CAfile: tc.preJail}, logs.Discard)
				if err != nil {
					t.Fatal(err)
				}
				fx.srv.Client = c
			}
			var built atomic.Int32
			fx.srv.NewClient = func(files map[string]string) (*tlsclient.Client, error) {
				built.Add(1)
				return tlsclient.New(tlsclient.Settings{CAfile: files["CAfile"], CApath: files["CApath"]}, logs.Discard)
			}
			path := fx.listen(t)
			for i, rq := range tc.requests {
				port := 2500 + i
				from := len(fx.rec.Lines())
				status := clientInitRequest(t, fx, path, scfg, port, rq.props)
				seg := fx.rec.Lines()[from:]
				if status != rq.status {
					t.Errorf("request %d: status %d, want %d\n%s", i, status, rq.status, strings.Join(seg, "\n"))
				}
				want := append([]string{fmt.Sprintf("CONNECT to [127.0.0.1]:%d", port)}, rq.lines...)
				if rq.summary != "" {
					want = append(want, rq.summary)
				}
				checkInOrder(t, i, seg, want)
				if n := strings.Count(strings.Join(seg, "\n"), "unexpected settings"); n > 1 || (n == 1) != (len(rq.lines) > 0 && strings.Contains(rq.lines[0], "unexpected settings")) {
					t.Errorf("request %d: %d warnings about unexpected settings:\n%s", i, n, strings.Join(seg, "\n"))
				}
				if got := int(built.Load()); got != rq.built {
					t.Errorf("request %d: %d client contexts made after the jail, want %d", i, got, rq.built)
				}
			}
		})
	}
}

// checkInOrder wants every line of want, in order, at the start of lines
// of seg.
func checkInOrder(t *testing.T, i int, seg, want []string) {
	t.Helper()
	j := 0
	for _, l := range seg {
		if j < len(want) && strings.HasPrefix(l, want[j]) {
			j++
		}
	}
	if j < len(want) {
		t.Errorf("request %d: line %q missing (in order); log:\n%s", i, want[j], strings.Join(seg, "\n"))
	}
}

// clientInitRequest runs one 3.7.11 client-role request with the given
// init props (or, named "part.name", other attributes) against a remote TLS server, through to the context and the
// end of the session, and returns the status.
func clientInitRequest(t *testing.T, fx *fixture, path string, scfg *tls.Config, port int, init map[string]string) int {
	t.Helper()
	rc, rf, err := pftest.NewRemotePair()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	endpoint := fmt.Sprintf("[127.0.0.1]:%d", port)
	r := pfclient.ClientRole(pfversion.MustParse("3.7.11"), endpoint, fmt.Sprintf("mx.example.test[127.0.0.1]:%d", port))
	r.Props = map[string]string{"init.log_param": "smtp_tls_loglevel", "init.log_level": "1", "init.verifydepth": "9",
		"init.cache_type": "smtp", "init.mdalg": "sha256"}
	for k, v := range init {
		if !strings.Contains(k, ".") { // "params.name": another part's attribute
			k = "init." + k
		}
		r.Props[k] = v
	}
	hs := make(chan error, 1)
	go func() { hs <- tls.Server(rc, scfg).Handshake() }()
	c, st, err := pfclient.Open(path, r, rf)
	rf.Close()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if st == 1 {
		if err := <-hs; err != nil {
			t.Fatalf("remote handshake: %v", err)
		}
		if _, err := c.Context(pfclient.ContextLen(r)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	waitLine(t, fx, "DISCONNECT "+endpoint)
	return st
}
