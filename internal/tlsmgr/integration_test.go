package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// realTLSMgr starts a throwaway loopback Postfix instance with
// scripts/pfinstance.sh (Debian's own tlsproxy; we only need its tlsmgr,
// with an smtpd session cache database) and returns the tlsmgr socket path.
func realTLSMgr(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Postfix instance")
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot run Postfix's master(8)")
	}
	for _, f := range []string{"/usr/sbin/postfix", "/usr/lib/postfix/sbin/tlsmgr", "/usr/lib/postfix/sbin/tlsproxy"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("Postfix not installed: %v", err)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "tlsmgr-it-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	script, _ := filepath.Abs("../../scripts/pfinstance.sh")
	t.Cleanup(func() {
		if out, err := exec.Command("bash", script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("pfinstance stop: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	ports := freePorts(t, 3)
	cmd := exec.Command("bash", script, "start", dir,
		"--tlsproxy", "/usr/lib/postfix/sbin/tlsproxy",
		"--ports", fmt.Sprintf("%d,%d,%d", ports[0], ports[1], ports[2]),
		"--main", "smtpd_tls_session_cache_database = btree:"+dir+"/data/smtpd_scache",
		"--main", "smtpd_tls_session_cache_timeout = 1200s",
		"--main", "lmtp_tls_session_cache_database = btree:"+dir+"/data/lmtp_scache")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pfinstance start: %v\n%s", err, out)
	}
	return filepath.Join(dir, "spool", ServicePath("tlsmgr"))
}

func freePorts(t *testing.T, n int) []int {
	var ports []int
	for range n {
		ln := pftest.ListenTCP(t)
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// TestRealTLSMgr talks to Debian's tlsmgr 3.7 directly.
func TestRealTLSMgr(t *testing.T) {
	path := realTLSMgr(t)
	var w warnings
	o := Options{Announce: AnnounceRequired, Log: &w} // what 3.7 does
	c, err := Dial(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	seed, err := c.Seed(32)
	if err != nil || len(seed) != 32 || bytes.Equal(seed, make([]byte, 32)) {
		t.Errorf("Seed = %x, %v", seed, err)
	}
	policies := []struct {
		typ      string
		cachable bool
		timeout  time.Duration
		status   int
	}{
		{CacheSMTPD, true, 1200 * time.Second, StatusOK},
		{CacheSMTP, false, 3600 * time.Second, StatusOK},
		{CacheLMTP, true, 3600 * time.Second, StatusOK},
		{"bogus", false, 0, StatusFail},
	}
	for _, p := range policies {
		cachable, timeout, err := c.Policy(p.typ)
		var se *StatusError
		if p.status != StatusOK {
			if !errors.As(err, &se) || se.Status != p.status {
				t.Errorf("Policy(%s) error %v, want status %d", p.typ, err, p.status)
			}
			continue
		}
		if err != nil || cachable != p.cachable || timeout != p.timeout {
			t.Errorf("Policy(%s) = %v %v %v", p.typ, cachable, timeout, err)
		}
	}

	now := time.Now()
	cur, err := c.TicketKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// tlsmgr 3.7: issuing until now + T/2 - 1 (T = 1200 s).
	if cur.Expires.Before(now.Add(-time.Second)) || cur.Expires.After(now.Add(601*time.Second)) {
		t.Errorf("key expires %v, now %v", cur.Expires, now)
	}
	if len(cur.Cipher) != 32 || len(cur.HMAC) != 32 {
		t.Errorf("key sizes %d %d", len(cur.Cipher), len(cur.HMAC))
	}
	byName, err := c.TicketKey(cur.Name[:])
	if err != nil || !bytes.Equal(byName.Bytes(), cur.Bytes()) {
		t.Errorf("TicketKey(name) = %+v, %v; want the current key", byName, err)
	}
	if _, err := c.TicketKey(bytes.Repeat([]byte{0xa5}, 16)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key name: %v, want ErrNotFound", err)
	}

	id := fmt.Sprintf("%x&s=tlsmgr-test&l=1", now.UnixNano())
	session := []byte("not really DER, tlsmgr stores it as is")
	if _, err := c.Lookup(CacheSMTPD, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup before Update: %v", err)
	}
	updateLookup(t, c, CacheSMTPD, id, session)
	if err := c.Delete(CacheSMTPD, id); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := c.Lookup(CacheSMTPD, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after Delete: %v", err)
	}
	// The lmtp cache (the client role's, for lmtp(8)) works the same way.
	updateLookup(t, c, CacheLMTP, id, session)
	var se *StatusError
	if _, err := c.Lookup(CacheSMTP, id); !errors.As(err, &se) || se.Status != StatusFail {
		t.Errorf("Lookup in a cache that is off: %v, want status -2", err)
	}

	// Tickets with the real keys, across two "processes", each with its
	// own connection (the second in AnnounceAuto mode).
	a := NewTickets(c, TicketOptions{Lifetime: 1200 * time.Second})
	c2 := New(path, Options{})
	defer c2.Close()
	b := NewTickets(c2, TicketOptions{Lifetime: 1200 * time.Second})
	ss := testState(t, 9)
	tkt, err := a.Wrap("scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tkt[:16], cur.Name[:]) {
		t.Errorf("ticket key name %x, want %x", tkt[:16], cur.Name)
	}
	if got, _ := b.Unwrap("scope", tkt, tls.ConnectionState{}); got == nil || !bytes.Equal(stateBytes(t, got), stateBytes(t, ss)) {
		t.Error("ticket did not open in the second process")
	}

	// Stateful tickets: the session goes into the real smtpd cache and
	// comes back in the other "process"; an unreadable entry is deleted.
	sa := NewTickets(nil, TicketOptions{Lifetime: 1200 * time.Second, Cache: c})
	sb := NewTickets(nil, TicketOptions{Lifetime: 1200 * time.Second, Cache: c2})
	identity, err := sa.Wrap("smtpd|scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := sb.Unwrap("smtpd|scope", identity, tls.ConnectionState{}); got == nil || !bytes.Equal(stateBytes(t, got), stateBytes(t, ss)) {
		t.Error("stateful session did not come back from tlsmgr")
	}
	cid := ServerCacheID(identity, "smtpd")
	if err := c.Update(CacheSMTPD, cid, []byte("go1s damaged")); err != nil {
		t.Fatal(err)
	}
	if got, _ := sb.Unwrap("smtpd|scope", identity, tls.ConnectionState{}); got != nil {
		t.Error("damaged entry resumed")
	}
	if _, err := c.Lookup(CacheSMTPD, cid); !errors.Is(err, ErrNotFound) {
		t.Errorf("damaged entry not deleted: %v", err)
	}
	if len(w.list()) != 0 {
		t.Errorf("warnings: %q", w.list())
	}
}

// updateLookup stores session under id in tlsmgr's cache and reads it
// back.
func updateLookup(t *testing.T, c *Client, cache, id string, session []byte) {
	t.Helper()
	if err := c.Update(cache, id, session); err != nil {
		t.Errorf("Update %s: %v", cache, err)
	}
	if got, err := c.Lookup(cache, id); err != nil || !bytes.Equal(got, session) {
		t.Errorf("Lookup %s = %q, %v", cache, got, err)
	}
}
