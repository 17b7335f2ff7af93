package tlsmgr

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Store is tlsmgr's session cache (the lookup, update and delete requests);
// *Client is one.
type Store interface {
	Lookup(cacheType, id string) ([]byte, error)
	Update(cacheType, id string, session []byte) error
	Delete(cacheType, id string) error
}

// CacheMarker stands where Postfix puts OpenSSL's version in its cache ids.
// It can never equal a decimal OpenSSL_version_num() or a hex digest, so
// Postfix's smtpd and smtp never look up, and never decode, our entries.
const CacheMarker = "go1"

// ServerCacheID is the smtpd cache_id of a stateful ticket identity, in
// Postfix's shape: hex(id) "&s=" serverid "&l=" CacheMarker.
func ServerCacheID(identity []byte, serverid string) string {
	return hex.EncodeToString(identity) + "&s=" + serverid + "&l=" + CacheMarker
}

// ClientCacheID is the smtp cache_id of a client session: serverid "&go1-"
// and the hex SHA-256 of scope and the key crypto/tls passes to its
// ClientSessionCache (server name or address).
func ClientCacheID(serverid, scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return serverid + "&" + CacheMarker + "-" + hex.EncodeToString(sum[:])
}

// serverIDOf is the server id part of a scope: internal/proxy passes
// serverid "|" policy digest (a hex string, so the last "|" separates).
func serverIDOf(scope string) string {
	if i := strings.LastIndexByte(scope, '|'); i >= 0 {
		return scope[:i]
	}
	return scope
}

// Cache entries are our own layout, never OpenSSL's DER session:
//
//	server: "go1s" || flags (1) || issued (8) || scope length (2) || scope || SessionState.Bytes()
//	client: "go1c" || issued (8) || ticket length (2) || ticket || SessionState.Bytes()
//
// Integers are big-endian, issued is Unix seconds; the session state must
// not be empty. tlsmgr stores the value as it is.
const (
	serverMagic = "go1s"
	clientMagic = "go1c"
)

var errEntry = errors.New("not a tlsproxy-go session cache entry")

// serverEntry is a decoded smtpd cache value.
type serverEntry struct {
	info  SessionInfo
	scope string
	state []byte
}

func (e serverEntry) append(b []byte) ([]byte, error) {
	if len(e.scope) > 0xffff || len(e.state) == 0 {
		return nil, fmt.Errorf("cannot encode session: scope of %d bytes, state of %d bytes", len(e.scope), len(e.state))
	}
	var flags byte
	if e.info.ClientCert {
		flags |= flagClientCrt
	}
	b = append(b, serverMagic...)
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(e.info.Issued.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.scope)))
	b = append(b, e.scope...)
	return append(b, e.state...), nil
}

func parseServerEntry(b []byte) (serverEntry, error) {
	var e serverEntry
	if len(b) < len(serverMagic)+1+8+2 || string(b[:len(serverMagic)]) != serverMagic {
		return e, errEntry
	}
	b = b[len(serverMagic):]
	if flags := b[0]; flags&^flagClientCrt != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x", errEntry, flags)
	}
	e.info.ClientCert = b[0]&flagClientCrt != 0
	e.info.Issued = time.Unix(int64(binary.BigEndian.Uint64(b[1:])), 0)
	n := int(binary.BigEndian.Uint16(b[9:]))
	b = b[11:]
	if len(b) <= n {
		return e, fmt.Errorf("%w: truncated", errEntry)
	}
	e.scope = string(b[:n])
	e.state = append([]byte(nil), b[n:]...)
	return e, nil
}

// clientEntry is a decoded smtp cache value.
type clientEntry struct {
	issued time.Time
	ticket []byte
	state  []byte
}

func (e clientEntry) append(b []byte) ([]byte, error) {
	if len(e.ticket) > 0xffff || len(e.state) == 0 {
		return nil, fmt.Errorf("cannot encode session: ticket of %d bytes, state of %d bytes", len(e.ticket), len(e.state))
	}
	b = append(b, clientMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.issued.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.ticket)))
	b = append(b, e.ticket...)
	return append(b, e.state...), nil
}

func parseClientEntry(b []byte) (clientEntry, error) {
	var e clientEntry
	if len(b) < len(clientMagic)+8+2 || string(b[:len(clientMagic)]) != clientMagic {
		return e, errEntry
	}
	b = b[len(clientMagic):]
	e.issued = time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	n := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) <= n {
		return e, fmt.Errorf("%w: truncated", errEntry)
	}
	e.ticket = append([]byte(nil), b[:n]...)
	e.state = append([]byte(nil), b[n:]...)
	return e, nil
}

// expired reports whether a session issued at issued is too old to resume
// at now: older than lifetime, or from the future (a clock step or a
// forged entry) by more than a minute.
func expired(issued, now time.Time, lifetime time.Duration) bool {
	age := now.Sub(issued)
	return age > lifetime || age < -time.Minute
}

// backoff remembers a failed tlsmgr request so that nobody asks again
// for a while (Backoff in the options); "not found" answers do not count.
// The zero value is ready; it is safe for concurrent use.
type backoff struct {
	mu    sync.Mutex
	until time.Time
}

// down reports whether a failure happened within its back-off.
func (b *backoff) down(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Before(b.until)
}

// failed starts a back-off of d from now.
func (b *backoff) failed(now time.Time, d time.Duration) {
	b.mu.Lock()
	b.until = now.Add(d)
	b.mu.Unlock()
}
