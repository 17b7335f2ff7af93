package tlsmgr

import (
	"crypto/rand"
	"errors"
	"sync"
	"time"
)

// ErrNoTicketKeys is Policy's error for a policy reply with no timeout:
// tlsmgr(8) of Postfix 2.8 – 2.10. That tlsmgr has no ticket keys either
// (no tktkey request; it would read a tktkey request's attributes as a
// new request), and its tlsproxy let OpenSSL issue tickets with keys of
// its own (LocalKeys).
var ErrNoTicketKeys = errors.New("tlsmgr: policy reply without a timeout (before Postfix 2.11): no ticket keys")

// LocalKeys is a KeySource of ticket keys made in this process, for a
// tlsmgr without ticket keys. OpenSSL does the same when the application
// gives it none: random keys per process, so a ticket resumes a session
// only in the process that issued it. Like tlsmgr's, a key issues tickets
// for one lifetime and is then replaced; the one before it can still be
// looked up by name (Tickets keeps it for decryption as long as the
// lifetime allows). It is safe for concurrent use.
type LocalKeys struct {
	lifetime time.Duration
	now      func() time.Time

	mu             sync.Mutex
	current, older *Key
}

// NewLocalKeys returns a LocalKeys whose keys issue tickets for lifetime
// each; now, if not nil, replaces time.Now (tests).
func NewLocalKeys(lifetime time.Duration, now func() time.Time) *LocalKeys {
	if now == nil {
		now = time.Now
	}
	return &LocalKeys{lifetime: lifetime, now: now}
}

// TicketKey returns the current key (name empty), making a new one when
// there is none or it has expired, or the key called name (ErrNotFound
// for a name this process did not make, or has dropped).
func (l *LocalKeys) TicketKey(name []byte) (*Key, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(name) == 0 {
		if now := l.now(); l.current == nil || !now.Before(l.current.Expires) {
			k := &Key{Cipher: make([]byte, 32), HMAC: make([]byte, 32), Expires: now.Add(l.lifetime)}
			rand.Read(k.Name[:])
			rand.Read(k.Cipher)
			rand.Read(k.HMAC)
			l.current, l.older = k, l.current
		}
		return l.current, nil
	}
	for _, k := range []*Key{l.current, l.older} {
		if k != nil && string(k.Name[:]) == string(name) {
			return k, nil
		}
	}
	return nil, &StatusError{Request: "tktkey", Status: StatusErr}
}
