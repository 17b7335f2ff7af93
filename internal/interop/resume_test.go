package interop

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// resumeCase is one way for a session to resume in another tlsproxy
// process: key names its instance (started once per binary), args are the
// instance's options beyond one session per process.
type resumeCase struct {
	name, key string
	args      []string
}

// resumeCases: session tickets (the defaults), and tlsmgr's smtpd session
// cache with tickets off (empty tls_session_ticket_cipher). With tickets
// off, ours has no other way to resume than tlsmgr's cache: for TLS 1.3
// OpenSSL's stateful tickets, ours a ticket naming the cache entry; for
// TLS 1.2 Debian's session id, ours the same stateful ticket. tlsproxy
// logs at level 2 there, which includes cache activity, for whoever reads
// the kept log of a failed run.
var resumeCases = []resumeCase{
	{name: "tickets", key: "resume"},
	{name: "session cache", key: "sessioncache", args: []string{
		"--main", "smtpd_tls_session_cache_database = btree:${data_directory}/smtpd_scache",
		"--main", "tls_session_ticket_cipher =",
		"--main", "tlsproxy_tls_loglevel = 2"}},
}

// resumeInstance starts (once per binary and case) an instance whose
// tlsproxy processes each serve one session (-o max_use=1), so that two
// sessions in a row are served by two processes, with tlsmgr(8) shared.
func resumeInstance(t *testing.T, im impl, rc resumeCase) *instance {
	t.Helper()
	bin := im.binary(t)
	return onceFor(t, rc.key+"/"+im.name, func() (*instance, error) {
		in, _, err := startIn(im.root(), bin, append([]string{"--tlsproxy-args", "-o max_use=1"}, rc.args...)...)
		return in, err
	})
}

// opensslResume runs one STARTTLS session with openssl s_client, saving
// (sess_out) or reusing (sess_in) the TLS session in file, and returns
// "New" or "Reused" and the client port. EHLO then QUIT over TLS: reading
// the EHLO reply also makes openssl take the TLS 1.3 ticket.
func opensslResume(t *testing.T, in *instance, version, flag, file string) (string, int) {
	t.Helper()
	out, port := sClient(t, in, "EHLO resume.test\nQUIT\n", "-crlf", "-nocommands", "-"+version, flag, file)
	m := regexp.MustCompile(`(?m)^(New|Reused), `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("openssl printed no New/Reused line:\n%s", out)
	}
	return m[1], port
}

// TestResumptionAcrossProcesses: a session saved from one tlsproxy
// process resumes in another, through real postscreen and tlsmgr, for
// TLS 1.2 and 1.3, in each of resumeCases; the log shows the two pids.
// Debian's tlsproxy runs the same steps as the reference.
func TestResumptionAcrossProcesses(t *testing.T) {
	requireInterop(t)
	testResumption(t, impls)
}

// testResumption runs TestResumptionAcrossProcesses's steps for ims.
func testResumption(t *testing.T, ims []impl) {
	pidRE := func(port int) *regexp.Regexp {
		return regexp.MustCompile(`postfix/tlsproxy\[(\d+)\]: CONNECT from \[127\.0\.0\.1\]:` + strconv.Itoa(port) + `\n`)
	}
	for _, rc := range resumeCases {
		for _, im := range ims {
			t.Run(rc.name+"/"+im.name, func(t *testing.T) {
				in := resumeInstance(t, im, rc)
				for _, version := range []string{"tls1_3", "tls1_2"} {
					t.Run(version, func(t *testing.T) {
						file := filepath.Join(t.TempDir(), "session.pem")
						off := in.logSize(t)
						first, p1 := opensslResume(t, in, version, "-sess_out", file)
						pid1 := pidRE(p1).FindStringSubmatch(in.waitLog(t, off, pidRE(p1)))[1]
						off = in.logSize(t)
						second, p2 := opensslResume(t, in, version, "-sess_in", file)
						pid2 := pidRE(p2).FindStringSubmatch(in.waitLog(t, off, pidRE(p2)))[1]
						if first != "New" || second != "Reused" {
							t.Errorf("sessions: %s then %s, want New then Reused", first, second)
						}
						if pid1 == pid2 {
							t.Errorf("both sessions served by tlsproxy pid %s; want two processes", pid1)
						}
						// The saved session once more: it resumes again,
						// also in TLS 1.3 with tlsmgr's cache (Debian's
						// tlsproxy does not make those single-use).
						third, _ := opensslResume(t, in, version, "-sess_in", file)
						if third != "Reused" {
							t.Errorf("the saved session a second time: %s, want Reused", third)
						}
						t.Logf("%s: %s by pid %s, %s by pid %s, then %s", version, first, pid1, second, pid2, third)
					})
				}
			})
		}
	}
}
