package interop

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// sessionCacheInstance starts (once per binary) an instance like
// resumeInstance's (one session per tlsproxy process), but with session
// tickets off (empty tls_session_ticket_cipher) and an smtpd session cache
// database in tlsmgr: resumption can then only go through that cache.
// tlsproxy logs at level 2, which includes cache activity, for whoever
// reads the kept log of a failed run.
func sessionCacheInstance(t *testing.T, im impl) *instance {
	t.Helper()
	bin := im.binary(t)
	return onceFor(t, "sessioncache/"+im.name, func() (*instance, error) {
		dir, err := newInstanceDir()
		if err != nil {
			return nil, err
		}
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		in := &instance{dir: dir}
		return in, in.start(bin, ports, "--tlsproxy-args", "-o max_use=1",
			"--main", "smtpd_tls_session_cache_database = btree:${data_directory}/smtpd_scache",
			"--main", "tls_session_ticket_cipher =",
			"--main", "tlsproxy_tls_loglevel = 2")
	})
}

// TestSessionCacheAcrossProcesses: with tickets off and a session cache
// configured, a session saved from one tlsproxy process resumes in
// another, through real postscreen and tlsmgr(8), for TLS 1.3 (OpenSSL's
// stateful tickets; ours: a ticket naming the cache entry) and TLS 1.2
// (Debian: session id; ours: the same stateful ticket). Debian's tlsproxy
// runs the same steps as the reference. With tickets off, ours has no
// other way to resume than tlsmgr's cache.
func TestSessionCacheAcrossProcesses(t *testing.T) {
	requireInterop(t)
	pidRE := func(port int) *regexp.Regexp {
		return regexp.MustCompile(`postfix/tlsproxy\[(\d+)\]: CONNECT from \[127\.0\.0\.1\]:` + strconv.Itoa(port) + `\n`)
	}
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			in := sessionCacheInstance(t, im)
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
					t.Logf("%s: %s by pid %s, %s by pid %s", version, first, pid1, second, pid2)
				})
			}
		})
	}
}
