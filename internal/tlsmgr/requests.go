package tlsmgr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"tlsproxy/internal/attr"
)

// Reply status values (tls_mgr.h).
const (
	StatusOK   = 0  // TLS_MGR_STAT_OK
	StatusErr  = -1 // TLS_MGR_STAT_ERR: not found, not stored, tickets off
	StatusFail = -2 // TLS_MGR_STAT_FAIL: bad request, cache off, bad reply
)

// Cache types of the policy/lookup/update/delete requests.
const (
	CacheSMTPD = "smtpd"
	CacheSMTP  = "smtp"
	CacheLMTP  = "lmtp"
)

// ErrNotFound matches (errors.Is) a *StatusError with status StatusErr.
var ErrNotFound = errors.New("tlsmgr: not found")

// StatusError is a reply other than StatusOK, or a reply that Postfix's
// client library would turn into StatusFail (Reason says why).
type StatusError struct {
	Request string
	Status  int
	Reason  string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("tlsmgr %s request: status %d", e.Request, e.Status)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound) true for status StatusErr.
func (e *StatusError) Is(target error) bool { return target == ErrNotFound && e.Status == StatusErr }

// field is one wanted reply attribute: INT, or DATA (base64).
type field struct {
	name string
	data bool
}

// reply holds the decoded wanted attributes of one reply.
type reply struct {
	n    int // how many wanted attributes were found, in order
	ints map[string]int
	data map[string][]byte
}

// scanReply finds the wanted attributes in order, skipping others, like
// attr_scan without STRICT. A malformed value of a wanted attribute is a
// transport-level failure (attr_scan returns -1).
func scanReply(l attr.List, want ...field) (reply, error) {
	r := reply{ints: map[string]int{}, data: map[string][]byte{}}
	for _, a := range l {
		if r.n == len(want) {
			break
		}
		w := want[r.n]
		if a.Name != w.name {
			continue
		}
		var err error
		if w.data {
			r.data[w.name], err = attr.ParseData(a.Value)
		} else {
			r.ints[w.name], err = attr.ParseInt(a.Value)
		}
		if err != nil {
			return r, retryable{fmt.Errorf("attribute %s: %w", a.Name, err)}
		}
		r.n++
	}
	return r, nil
}

// Wanted reply attributes per request, as tls_mgr.c scans them.
var (
	wantSeed   = []field{{"status", false}, {"seed", true}}
	wantPolicy = []field{{"status", false}, {"cachable", false}, {"timeout", false}}
	wantData   = []field{{"status", false}, {"session", true}} // lookup
	wantStatus = []field{{"status", false}}                    // update, delete
	wantKey    = []field{{"status", false}, {"keybuf", true}}
)

// decodeReply requires all wanted attributes, the first being status.
// Statuses other than StatusOK come back as *StatusError, with r filled in.
func decodeReply(request string, l attr.List, want []field) (reply, error) {
	r, err := scanReply(l, want...)
	if err != nil {
		return r, err
	}
	if r.n != len(want) {
		return r, &StatusError{Request: request, Status: StatusFail,
			Reason: "missing attribute " + want[r.n].name + " in reply"}
	}
	if st := r.ints["status"]; st != StatusOK {
		return r, &StatusError{Request: request, Status: st}
	}
	return r, nil
}

// do sends req and decodes the reply.
func (c *Client) do(req attr.List, want []field) (reply, error) {
	var r reply
	err := c.call(req, func(l attr.List) error {
		var err error
		r, err = decodeReply(req[0].Value, l, want)
		return err
	})
	return r, err
}

// Seed asks for n (1..255) random bytes, as tlsproxy does at start-up and
// per session with tls_daemon_random_bytes (32).
func (c *Client) Seed(n int) ([]byte, error) {
	if n < 1 || n > 255 {
		return nil, fmt.Errorf("tlsmgr seed request: bad size %d", n)
	}
	r, err := c.do(attr.List{attr.Str("request", "seed"), attr.Int("size", n)}, wantSeed)
	if err != nil {
		return nil, err
	}
	return r.data["seed"], nil
}

// Policy asks whether sessions of cacheType (CacheSMTPD, ...) may be cached
// in tlsmgr's database and for the cache timeout (the
// *_tls_session_cache_timeout, reported even when not cachable; for smtpd it
// is also the ticket lifetime). A reply without the timeout (tlsmgr before
// Postfix 2.11) gives cachable and ErrNoTicketKeys.
func (c *Client) Policy(cacheType string) (cachable bool, timeout time.Duration, err error) {
	r, err := c.do(attr.List{attr.Str("request", "policy"), attr.Str("cache_type", cacheType)}, wantPolicy)
	if err != nil {
		if r.n == 2 && r.ints["status"] == StatusOK {
			// status and cachable, no timeout: Postfix 2.8 – 2.10.
			return r.ints["cachable"] != 0, 0, ErrNoTicketKeys
		}
		return false, 0, err
	}
	return r.ints["cachable"] != 0, time.Duration(r.ints["timeout"]) * time.Second, nil
}

// Lookup fetches a cached session (ErrNotFound when there is none).
func (c *Client) Lookup(cacheType, id string) ([]byte, error) {
	r, err := c.do(attr.List{attr.Str("request", "lookup"), attr.Str("cache_type", cacheType),
		attr.Str("cache_id", id)}, wantData)
	if err != nil {
		return nil, err
	}
	return r.data["session"], nil
}

// Update stores a session in the cache.
func (c *Client) Update(cacheType, id string, session []byte) error {
	_, err := c.do(attr.List{attr.Str("request", "update"), attr.Str("cache_type", cacheType),
		attr.Str("cache_id", id), attr.Data("session", session)}, wantStatus)
	return err
}

// Delete removes a session from the cache (ErrNotFound when there was none).
func (c *Client) Delete(cacheType, id string) error {
	_, err := c.do(attr.List{attr.Str("request", "delete"), attr.Str("cache_type", cacheType),
		attr.Str("cache_id", id)}, wantStatus)
	return err
}

// TicketKey asks for the current ticket-encryption key (name nil or empty)
// or for the key called name (KeyNameSize bytes), for decryption. Status -1
// (ErrNotFound) means tickets are off or the key is unknown.
func (c *Client) TicketKey(name []byte) (*Key, error) {
	if len(name) != 0 && len(name) != KeyNameSize {
		return nil, fmt.Errorf("tlsmgr tktkey request: key name of %d bytes", len(name))
	}
	r, err := c.do(attr.List{attr.Str("request", "tktkey"), attr.Data("keyname", name)}, wantKey)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(r.data["keybuf"])
	if err != nil {
		return nil, &StatusError{Request: "tktkey", Status: StatusFail, Reason: err.Error()}
	}
	return k, nil
}

// Sizes of tlsmgr's raw TLS_TICKET_KEY (LP64 layout).
const (
	KeyNameSize = 16
	KeySize     = 16 + 32 + 32 + 8 // Postfix 3.x
	KeySize211  = 16 + 16 + 16 + 8 // Postfix 2.11
)

// Key is one session-ticket key as tlsmgr hands it out.
type Key struct {
	Name    [KeyNameSize]byte
	Cipher  []byte    // "bits": 32 bytes (16 from Postfix 2.11)
	HMAC    []byte    // 32 bytes (16 from Postfix 2.11)
	Expires time.Time // "tout": end of its use for issuing tickets
}

// ParseKey decodes tlsmgr's keybuf: the C struct in native byte order,
// name, cipher key, HMAC key, then a 64-bit time_t.
func ParseKey(b []byte) (*Key, error) {
	var half int
	switch len(b) {
	case KeySize:
		half = 32
	case KeySize211:
		half = 16
	default:
		return nil, fmt.Errorf("ticket key of %d bytes, want %d", len(b), KeySize)
	}
	k := &Key{}
	copy(k.Name[:], b)
	b = b[KeyNameSize:]
	k.Cipher = append([]byte(nil), b[:half]...)
	k.HMAC = append([]byte(nil), b[half:2*half]...)
	k.Expires = time.Unix(int64(binary.NativeEndian.Uint64(b[2*half:])), 0)
	return k, nil
}

// Bytes encodes k in the layout ParseKey reads (what tlsmgr sends).
func (k *Key) Bytes() []byte {
	b := append(k.Name[:len(k.Name):len(k.Name)], k.Cipher...)
	b = append(b, k.HMAC...)
	return binary.NativeEndian.AppendUint64(b, uint64(k.Expires.Unix()))
}
