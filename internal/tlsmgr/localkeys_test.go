package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"tlsproxy/internal/attr"
)

// TestPolicyWithoutTimeout: the policy reply of Postfix 2.8 – 2.10's
// tlsmgr (status and cachable, no timeout) is ErrNoTicketKeys with the
// cachable flag; other replies are as before.
func TestPolicyWithoutTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reply    attr.List
		cachable bool
		timeout  time.Duration
		err      error // nil: none; ErrNoTicketKeys; errAny: some other error
	}{
		{"2.8, no cache", attr.List{attr.Int("status", 0), attr.Int("cachable", 0)}, false, 0, ErrNoTicketKeys},
		{"2.8, cache", attr.List{attr.Int("status", 0), attr.Int("cachable", 1)}, true, 0, ErrNoTicketKeys},
		{"2.11+", attr.List{attr.Int("status", 0), attr.Int("cachable", 1), attr.Int("timeout", 3600)}, true, time.Hour, nil},
		{"failed", attr.List{attr.Int("status", StatusFail), attr.Int("cachable", 0)}, false, 0, errAny},
		{"no cachable", attr.List{attr.Int("status", 0)}, false, 0, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, false)
			f.set(func(f *fakeTLSMgr) {
				f.override = func() []byte { return attr.AppendList(nil, tc.reply) }
			})
			c := mustClient(t, f.path, fastOpts(nil))
			cachable, timeout, err := c.Policy(CacheSMTPD)
			switch {
			case tc.err == errAny:
				if err == nil || errors.Is(err, ErrNoTicketKeys) {
					t.Errorf("err %v, want another error", err)
				}
				return
			case !errors.Is(err, tc.err) || (tc.err == nil && err != nil):
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if cachable != tc.cachable || timeout != tc.timeout {
				t.Errorf("cachable %v timeout %v, want %v %v", cachable, timeout, tc.cachable, tc.timeout)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestLocalKeys: with keys of its own, a process resumes its own tickets,
// never another process's; a key issues tickets for one lifetime, and
// its tickets still open until half a lifetime later, as with tlsmgr's.
func TestLocalKeys(t *testing.T) {
	clk := &fakeClock{now: epoch}
	newProcess := func() (*Tickets, *LocalKeys) {
		keys := NewLocalKeys(time.Hour, clk.Now)
		return NewTickets(keys, TicketOptions{Lifetime: time.Hour, Now: clk.Now}), keys
	}
	a, keysA := newProcess()
	b, _ := newProcess()
	if a.Mode() != ModeStateless {
		t.Fatalf("mode %v", a.Mode())
	}
	ss := testState(t, 7)
	first, err := a.Wrap("scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	opens := func(tk *Tickets, ticket []byte) bool {
		got, err := tk.Unwrap("scope", ticket, tls.ConnectionState{})
		if err != nil {
			t.Fatalf("Unwrap error %v (must never abort the handshake)", err)
		}
		return got != nil && bytes.Equal(stateBytes(t, got), stateBytes(t, ss))
	}
	if !opens(a, first) {
		t.Error("the issuing process does not resume its ticket")
	}
	if opens(b, first) {
		t.Error("another process resumed a ticket of keys it does not have")
	}

	// A ticket late in the first key's life (50 min).
	clk.advance(50 * time.Minute)
	late, err := a.Wrap("scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first[:KeyNameSize], late[:KeyNameSize]) {
		t.Error("a new key before the first one expired")
	}
	// After one lifetime (65 min) a new key issues tickets; the late
	// ticket still opens: its key expired less than half a lifetime ago.
	clk.advance(15 * time.Minute)
	second, err := a.Wrap("scope", tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first[:KeyNameSize], second[:KeyNameSize]) {
		t.Error("no new key after a lifetime")
	}
	if !opens(a, late) || !opens(a, second) {
		t.Error("tickets of the current and the previous key do not both open")
	}
	// Half a lifetime after the first key's expiry (95 min), its tickets
	// are refused, though the late one is only 45 minutes old; the
	// second key's still open.
	clk.advance(30 * time.Minute)
	if opens(a, late) {
		t.Error("a ticket opened after its key's expiry plus half a lifetime")
	}
	if !opens(a, second) {
		t.Error("the current key's ticket does not open")
	}
	if _, err := keysA.TicketKey(bytes.Repeat([]byte{9}, KeyNameSize)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key name: %v, want ErrNotFound", err)
	}
}
