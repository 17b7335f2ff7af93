package proxy

import (
	"errors"
	"net"
	"syscall"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/sockio"
)

// How a session decides which generation its client speaks
// (docs/protocol.md, "Telling the generations apart"):
//
//  1. Announce or not. Postfix 3.6+ clients (G4, G5) wait for the
//     "protocol" announcement before they write; older ones (G1 – G3)
//     write their request right after connect() and never expect it.
//     A pinned release decides alone. A release learned from the
//     Postfix installation that runs the process (its master(8)'s
//     version stamp) decides too: its clients are its own programs;
//     only a request already waiting at accept time marks an old
//     client (one left running across an upgrade), a look that costs
//     one system call and never waits. With no release known, each
//     connection is looked at, the last resort: bytes waiting at accept
//     time mean an old client; with none, a process that expects 3.6+
//     clients (or knows nothing) looks once more after giving up the CPU
//     once (an old client writes its request microseconds after
//     connect(), so it is there by then, unless it was preempted in
//     between) and then announces; one that expects older clients waits
//     OldClientWait for the request and announces only if nothing came.
//  2. The first list's names then tell G1 (timeout only), G2 (server_id)
//     and G3 (two timeouts, serverid) apart; after an announcement they
//     must be the G3 shape.
//  3. After an announcement, a server-role request that is followed in the
//     same write by a second list is G5 (3.12 snapshots); the client role
//     always has one. The parts of that list date the client exactly
//     (props.go).

// defaultOldClientWait is how long a process that expects pre-3.6
// clients waits for a request before it announces anyway.
const defaultOldClientWait = 500 * time.Millisecond

// g5Wait is how long a G5-expecting process waits for a second list that
// did not arrive with the first (a split write).
const g5Wait = 200 * time.Millisecond

// Generations holds the process-wide choice.
type Generations struct {
	// Expect is the Postfix version of the clients: pinned by
	// tlsproxy_postfix_version, or that of the installed Postfix.
	// Zero means unknown (treated like 3.6+).
	Expect pfversion.Version
	// Pinned trusts Expect completely: no looking for early bytes.
	Pinned bool
	// Learned: Expect is the release of the Postfix that runs the
	// process. It decides, except that a request already waiting at
	// accept time marks an old client.
	Learned bool
	// OldClientWait overrides defaultOldClientWait.
	OldClientWait time.Duration
	// EarlyWait, if positive, is how long a process that expects 3.6+
	// clients waits for an old client's request before it announces
	// (tests of busy processes); zero: a second look after a
	// sched_yield (secondLook), the default; negative: no second look.
	EarlyWait time.Duration
}

// expectGen is the generation Expect speaks; unknown counts as G4.
func (g *Generations) expectGen() pfversion.Generation {
	if g == nil || g.Expect.Major == 0 {
		return pfversion.G4
	}
	return g.Expect.Generation()
}

// shouldAnnounce decides step 1 for a fresh connection.
func (ss *session) shouldAnnounce() bool {
	g := ss.srv.Generations
	want := g.expectGen()
	if g != nil && g.Pinned {
		return want.Announces()
	}
	if ss.peek(0) {
		return false // the client spoke first
	}
	if g != nil && g.Learned {
		return want.Announces()
	}
	if want.Announces() {
		switch {
		case g == nil || g.EarlyWait == 0:
			return !ss.secondLook()
		case g.EarlyWait < 0:
			return true
		}
		return !ss.peek(g.EarlyWait)
	}
	wait := defaultOldClientWait
	if g != nil && g.OldClientWait > 0 {
		wait = g.OldClientWait
	}
	return !ss.peek(wait)
}

// peek reports whether the plaintext socket has bytes to read, waiting at
// most d. It reads nothing (MSG_PEEK), so the attribute reader still gets
// every byte.
func (ss *session) peek(d time.Duration) bool {
	rc := ss.plain.rc
	var n int
	var rerr error
	queued := func(fd uintptr) {
		n, rerr = sockio.Peek(fd)
	}
	if d <= 0 {
		_ = rc.Control(queued)
		return rerr == nil && n > 0
	}
	if err := ss.plain.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false
	}
	defer ss.plain.SetReadDeadline(time.Time{})
	err := rc.Read(func(fd uintptr) bool {
		queued(fd)
		return !errors.Is(rerr, syscall.EAGAIN) // false: wait for readability
	})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	// EOF (n == 0) also ends the wait: the request read reports it.
	return err == nil && rerr == nil && n > 0
}

// secondLook looks for an old client's request once more without waiting
// for a time: it first gives the CPU to whatever else is runnable
// (sched_yield), such as a client that was preempted between connect()
// and write(). A timed wait would cost far more than it is worth: Go's
// timers wake an idle process no sooner than after a millisecond, and a
// thread blocked in poll(2) for tens of microseconds makes the runtime
// hand its work to another thread.
func (ss *session) secondLook() bool {
	sockio.Yield()
	return ss.peek(0)
}

// moreQueued reports whether bytes follow the first list: already in the
// reader's buffer, or waiting in the socket (within wait).
func (ss *session) moreQueued(wait time.Duration) bool {
	return ss.rd.Buffered() > 0 || ss.peek(wait)
}

// requestGeneration tells the generations apart by the first list's
// names: G1 (2.8) remote_endpoint, flags, timeout; G2 (2.9 – 3.3) the
// same plus server_id; G3 and later remote_endpoint, flags, timeout
// (handshake), timeout (session), serverid. After an announcement only
// the last shape is valid (G4, or G5 once a second list shows up), and
// its error text is the one Postfix 3.x gives for any other.
func requestGeneration(l attr.List, announced bool) (pfversion.Generation, error) {
	modern := l.Expect("plaintext", "remote_endpoint", "flags", "timeout", "timeout", "serverid")
	switch {
	case modern == nil && announced:
		return pfversion.G4, nil
	case modern == nil:
		return pfversion.G3, nil
	case announced:
		return 0, modern
	case l.Expect("plaintext", "remote_endpoint", "flags", "timeout", "server_id") == nil:
		return pfversion.G2, nil
	case l.Expect("plaintext", "remote_endpoint", "flags", "timeout") == nil:
		return pfversion.G1, nil
	}
	return 0, modern
}

// secondListFollows reports whether a server-role request comes with a
// second list, which makes it G5: only after an announcement and for a
// request that is not a probe, when bytes follow the first list; a
// process that expects G5 clients waits g5Wait for a split write.
func (ss *session) secondListFollows() bool {
	if !ss.announced || ss.probe {
		return false
	}
	var wait time.Duration
	if ss.srv.Generations.expectGen() == pfversion.G5 {
		wait = g5Wait
	}
	return ss.moreQueued(wait)
}
