package tlsmgr

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"tlsproxy/internal/logs"
)

// KeySource hands out ticket keys; *Client is one.
type KeySource interface {
	TicketKey(name []byte) (*Key, error)
}

// DefaultBackoff is how long Tickets stops asking tlsmgr after a failure.
const DefaultBackoff = 5 * time.Second

// TicketOptions configure Tickets.
type TicketOptions struct {
	// Lifetime is smtpd_tls_session_cache_timeout as reported by
	// Policy(CacheSMTPD). Keys stay valid for decryption until their expiry
	// plus Lifetime/2, and no session older than Lifetime is resumed. Zero
	// or less (also: the policy request failed) disables tickets, as in
	// Postfix.
	Lifetime time.Duration
	// Backoff: after a key fetch failed, tlsmgr is not asked again for this
	// long (default DefaultBackoff). "Not found" does not count.
	Backoff time.Duration
	// Accept, if set, may refuse a decrypted session; e.g. return false when
	// the scope requires a client certificate and !info.ClientCert.
	// crypto/tls itself already refuses sessions without a certificate when
	// ClientAuth is RequireAnyClientCert or stronger.
	Accept func(scope string, cs tls.ConnectionState, info SessionInfo) bool
	// Cache, if set, selects stateful tickets, what OpenSSL does when
	// tickets are off (empty tls_session_ticket_cipher) but tlsmgr has a
	// session cache (Policy(CacheSMTPD) says cachable): a ticket is then a
	// random identity and the session lives in tlsmgr's smtpd cache (see
	// stateful.go). No ticket keys are fetched in this mode.
	Cache Store
	// Log, if set, receives warnings about failed key fetches and cache
	// requests.
	Log logs.Logger
	// LogCache sends what the session cache does (saved, found, not
	// found, expired) to Log as information, for verbose logging.
	LogCache bool
	// Now, if set, replaces time.Now (tests).
	Now func() time.Time
}

// SessionInfo is what a ticket records besides the session state.
type SessionInfo struct {
	ClientCert bool      // the full handshake had a client certificate
	Issued     time.Time // when this ticket was made
}

// Tickets makes and opens session tickets with keys from tlsmgr. It is safe
// for concurrent use; one Tickets serves every tls.Config of a process.
type Tickets struct {
	src  KeySource
	opts TicketOptions

	mu         sync.Mutex
	current    *ticketKey
	keys       map[[KeyNameSize]byte]*ticketKey
	tlsmgrDown backoff
}

type ticketKey struct {
	key  *Key
	aead cipher.AEAD
}

const (
	ticketInfo    = "tlsproxy-go tlsmgr session ticket v1"
	nonceSize     = 12
	headerSize    = 1 + 8 // flags, issue time
	flagClientCrt = 1
	maxCachedKeys = 4
)

// NewTickets returns Tickets that fetch keys from src.
func NewTickets(src KeySource, opts TicketOptions) *Tickets {
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Tickets{src: src, opts: opts, keys: map[[KeyNameSize]byte]*ticketKey{}}
}

// Mode is how Tickets resumes sessions.
type Mode int

const (
	ModeOff       Mode = iota // no tickets, no resumption (Lifetime <= 0)
	ModeStateless             // tickets sealed with tlsmgr's ticket keys
	ModeStateful              // tickets naming sessions in tlsmgr's smtpd cache
)

func (m Mode) String() string {
	switch m {
	case ModeStateless:
		return "session tickets"
	case ModeStateful:
		return "session cache"
	}
	return "off"
}

// Mode reports the mode Install applies.
func (t *Tickets) Mode() Mode {
	switch {
	case t.opts.Lifetime <= 0:
		return ModeOff
	case t.opts.Cache != nil:
		return ModeStateful
	}
	return ModeStateless
}

// Install sets cfg's WrapSession and UnwrapSession for scope (the server id
// and TLS policy identity: sessions never resume across scopes; in
// ModeStateful the part before the last "|" is the serverid of the cache
// id). In ModeOff (Lifetime <= 0) it turns tickets off instead. log,
// when not nil, receives Postfix's ticket lines for the "cache" log level
// as Infof (stateless tickets only).
func (t *Tickets) Install(cfg *tls.Config, scope string, log logs.Logger) {
	if t.Mode() == ModeOff {
		cfg.SessionTicketsDisabled = true
		cfg.WrapSession, cfg.UnwrapSession = nil, nil
		return
	}
	cfg.SessionTicketsDisabled = false
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		return t.wrap(scope, cs, ss, log)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		return t.unwrap(scope, identity, cs, log)
	}
}

// Wrap makes a ticket for ss. Without a current key from tlsmgr it returns
// a ticket that will never resume (a Wrap error would abort the handshake).
// In ModeStateful the ticket is a random identity and ss goes into
// tlsmgr's smtpd cache (stateful.go).
func (t *Tickets) Wrap(scope string, cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	return t.wrap(scope, cs, ss, nil)
}

// wrap and unwrap give log, when not nil, Postfix's ticket lines (log
// level "cache"): a ticket issued, not after a resumption (Debian's
// tlsproxy logs none then), and a ticket whose key is known.
func (t *Tickets) wrap(scope string, cs tls.ConnectionState, ss *tls.SessionState, log logs.Logger) ([]byte, error) {
	if t.opts.Cache != nil {
		return t.wrapStateful(scope, cs, ss)
	}
	state, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	now := t.opts.Now()
	k := t.currentKey(now)
	if k == nil {
		dud := make([]byte, KeyNameSize+nonceSize+16) // all-zero key name
		rand.Read(dud[KeyNameSize:])
		return dud, nil
	}
	if log != nil && !cs.DidResume {
		log.Infof("Issuing session ticket, key expiration: %d", k.key.Expires.Unix())
	}
	pt := make([]byte, headerSize, headerSize+len(state))
	if len(cs.PeerCertificates) > 0 {
		pt[0] |= flagClientCrt
	}
	binary.BigEndian.PutUint64(pt[1:], uint64(now.Unix()))
	pt = append(pt, state...)

	out := make([]byte, KeyNameSize+nonceSize, KeyNameSize+nonceSize+len(pt)+k.aead.Overhead())
	copy(out, k.key.Name[:])
	rand.Read(out[KeyNameSize:])
	return k.aead.Seal(out, out[KeyNameSize:], pt, additionalData(k.key.Name, scope)), nil
}

// Unwrap opens a ticket made by Wrap under the same scope (in ModeStateful:
// looks it up in tlsmgr's smtpd cache). Whatever is wrong (unknown or
// expired key, missing entry, tlsmgr down, other scope, forged, too old,
// refused by Accept) yields (nil, nil): a full handshake, never an aborted
// one.
func (t *Tickets) Unwrap(scope string, identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	return t.unwrap(scope, identity, cs, nil)
}

func (t *Tickets) unwrap(scope string, identity []byte, cs tls.ConnectionState, log logs.Logger) (*tls.SessionState, error) {
	if t.opts.Lifetime <= 0 {
		return nil, nil
	}
	if t.opts.Cache != nil {
		return t.unwrapStateful(scope, identity, cs), nil
	}
	if len(identity) < KeyNameSize+nonceSize {
		return nil, nil
	}
	var name [KeyNameSize]byte
	copy(name[:], identity)
	if name == ([KeyNameSize]byte{}) {
		return nil, nil
	}
	now := t.opts.Now()
	k := t.keyByName(name, now)
	if k == nil {
		return nil, nil
	}
	if log != nil {
		log.Infof("Decrypting session ticket, key expiration: %d", k.key.Expires.Unix())
	}
	nonce := identity[KeyNameSize : KeyNameSize+nonceSize]
	pt, err := k.aead.Open(nil, nonce, identity[KeyNameSize+nonceSize:], additionalData(name, scope))
	if err != nil || len(pt) < headerSize {
		return nil, nil
	}
	info := SessionInfo{
		ClientCert: pt[0]&flagClientCrt != 0,
		Issued:     time.Unix(int64(binary.BigEndian.Uint64(pt[1:])), 0),
	}
	if now.Sub(info.Issued) > t.opts.Lifetime {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(pt[headerSize:])
	if err != nil {
		return nil, nil
	}
	if t.opts.Accept != nil && !t.opts.Accept(scope, cs, info) {
		return nil, nil
	}
	return ss, nil
}

func additionalData(name [KeyNameSize]byte, scope string) []byte {
	ad := append([]byte(ticketInfo), 0)
	ad = append(ad, name[:]...)
	return append(ad, scope...)
}

// currentKey returns the key for issuing tickets, fetching a new one from
// tlsmgr once the cached one has expired; nil if there is none.
func (t *Tickets) currentKey(now time.Time) *ticketKey {
	t.mu.Lock()
	k := t.current
	t.mu.Unlock()
	failing := t.tlsmgrDown.down(now)
	if k != nil && now.Before(k.key.Expires) {
		return k
	}
	if failing {
		return nil
	}
	k, err := t.fetch(nil, now)
	if err != nil {
		t.warnf("no current session ticket key: %v", err)
		return nil
	}
	t.mu.Lock()
	t.current = k
	t.mu.Unlock()
	return k
}

// keyByName returns the decryption key called name, from the cache or from
// tlsmgr, if it is still valid for decryption.
func (t *Tickets) keyByName(name [KeyNameSize]byte, now time.Time) *ticketKey {
	t.mu.Lock()
	k := t.keys[name]
	t.mu.Unlock()
	failing := t.tlsmgrDown.down(now)
	if k == nil && !failing {
		var err error
		k, err = t.fetch(name[:], now)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.warnf("session ticket key lookup: %v", err)
			}
			return nil
		}
		if k.key.Name != name {
			t.warnf("session ticket key lookup: tlsmgr returned another key")
			return nil
		}
	}
	if k == nil || now.After(k.key.Expires.Add(t.opts.Lifetime/2)) {
		return nil
	}
	return k
}

// fetch asks tlsmgr, derives the AEAD and caches the key by name.
func (t *Tickets) fetch(name []byte, now time.Time) (*ticketKey, error) {
	key, err := t.src.TicketKey(name)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			t.tlsmgrDown.failed(now, t.opts.Backoff)
		}
		return nil, err
	}
	secret := append(append([]byte(nil), key.Cipher...), key.HMAC...)
	kb, err := hkdf.Key(sha256.New, secret, key.Name[:], ticketInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive ticket key: %w", err)
	}
	block, err := aes.NewCipher(kb)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &ticketKey{key: key, aead: aead}

	t.mu.Lock()
	defer t.mu.Unlock()
	for n, old := range t.keys {
		if now.After(old.key.Expires.Add(t.opts.Lifetime/2)) || len(t.keys) >= maxCachedKeys {
			delete(t.keys, n)
		}
	}
	t.keys[key.Name] = k
	return k, nil
}

func (t *Tickets) warnf(format string, a ...any) {
	if t.opts.Log != nil {
		t.opts.Log.Warnf(format, a...)
	}
}

func (t *Tickets) logf(format string, a ...any) {
	if t.opts.LogCache && t.opts.Log != nil {
		t.opts.Log.Infof(format, a...)
	}
}
