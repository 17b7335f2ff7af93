package proxy

import (
	"io"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
)

// TestHandOverLimitEndsAtRelay: the limit on the wait for the fd must not
// follow the session into the relay, where only the inactivity limit
// applies (a busy SMTP session lasts as long as it needs).
func TestHandOverLimitEndsAtRelay(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.InitTimeout = 300 * time.Millisecond
	p := fx.start(t)
	rc, rf := pftest.RemotePair(t)
	if st := handOver(t, p, FlagRoleServer, rf, "[127.0.0.1]:9"); st != 1 {
		t.Fatal(st)
	}
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	end := time.Now().Add(3 * fx.srv.InitTimeout)
	for i := 0; time.Now().Before(end); i++ { // steady traffic past the limit
		if _, err := tc.Write([]byte("ping")); err != nil {
			t.Fatalf("round %d: remote write: %v", i, err)
		}
		if _, err := io.ReadFull(p.plain, buf); err != nil {
			t.Fatalf("round %d: plaintext read: %v; log: %q", i, err, fx.rec.Lines())
		}
		if _, err := p.plain.Write([]byte("pong")); err != nil {
			t.Fatalf("round %d: plaintext write: %v", i, err)
		}
		if _, err := io.ReadFull(tc, buf); err != nil {
			t.Fatalf("round %d: remote read: %v; log: %q", i, err, fx.rec.Lines())
		}
		time.Sleep(20 * time.Millisecond) // let time pass, not to synchronise
	}
}

// TestSecondListHasALimit: a 3.12 client that starts a second list and
// goes quiet is dropped after the hand-over limit, not held forever.
func TestSecondListHasALimit(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.InitTimeout = 300 * time.Millisecond
	fx.srv.Generations = &Generations{Expect: pfversion.MustParse("3.12-20260821"), Pinned: true}
	p := fx.start(t)
	if err := pftest.ReadAnnouncement(p.plain); err != nil {
		t.Fatal(err)
	}
	req := append(pftest.Request("[127.0.0.1]:7", FlagRoleServer, 30, 30, "smtp"), "config_file"...)
	if _, err := p.plain.Write(req); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("session still waiting for the rest of the second list")
	}
	wantLines(t, fx.rec, []string{"warning: tlsp_get_request_event: receive server TLS settings: timeout"}, nil)
}

// TestHandshakeTimeoutIsLogged: a remote that never sends its hello ends
// with Postfix's timeout warning, then "TLS handshake failed".
func TestHandshakeTimeoutIsLogged(t *testing.T) {
	fx := newFixture(t, nil)
	p := fx.start(t)
	_, rf := pftest.RemotePair(t)
	if st := handOverTimeouts(t, p, FlagRoleServer, 1, 30, rf, "[127.0.0.1]:8"); st != 1 {
		t.Fatalf("status %d", st)
	}
	waitDone(t, p)
	wantLines(t, fx.rec, []string{"warning: ciphertext read/write timeout for [127.0.0.1]:8",
		"TLS handshake failed for service=smtpd peer=[127.0.0.1]:8"}, []string{"library problem"})
}
