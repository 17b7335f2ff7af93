package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"tlsproxy/internal/attr"
)

// FuzzReply feeds arbitrary server output through the reply path: the
// attr0 reader, announcement check, reply scan for every request type and
// the ticket-key decoder. It must never panic, and a decoded reply must be
// consistent with what the scan found.
func FuzzReply(f *testing.F) {
	for _, s := range []string{
		"protocol\x00tlsmgr_protocol\x00\x00status\x000\x00seed\x00AAEC\x00\x00",
		"status\x004294967295\x00session\x00\x00\x00",
		"status\x000\x00cachable\x001\x00timeout\x003600\x00\x00",
		"status\x000\x00keybuf\x00" + b64(testKey(1, time.Unix(5, 0)).Bytes()) + "\x00\x00",
		"junk\x00x\x00status\x000\x00\x00",
		"status\x00zero\x00\x00",
		"{\x00status\x000\x00}\x00\x00",
		"",
	} {
		f.Add([]byte(s))
	}
	wants := map[string][]field{"seed": wantSeed, "policy": wantPolicy, "lookup": wantData,
		"update": wantStatus, "tktkey": wantKey}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := attr.NewReader(bytes.NewReader(data))
		for i := 0; i < 4; i++ {
			l, err := rd.ReadList()
			if err != nil {
				return
			}
			if len(l) > 0 && l[0].Name == "protocol" {
				c := &Client{path: "fuzz"}
				if c.checkAnnouncement(l) == nil && (len(l) != 1 || l[0].Value != ProtocolName) {
					t.Fatalf("bad announcement accepted: %q", l)
				}
			}
			for name, want := range wants {
				r, err := decodeReply(name, l, want)
				if err == nil && r.n != len(want) {
					t.Fatalf("%s: ok with %d of %d attributes", name, r.n, len(want))
				}
				var se *StatusError
				if errors.As(err, &se) && se.Status == StatusOK {
					t.Fatalf("%s: StatusError with status 0", name)
				}
				if name == "tktkey" && err == nil {
					k, err := ParseKey(r.data["keybuf"])
					if err == nil && !bytes.Equal(k.Bytes()[:KeyNameSize], r.data["keybuf"][:KeyNameSize]) {
						t.Fatal("key name mangled")
					}
				}
			}
		}
	})
}

// staticSource serves one fixed key.
type staticSource struct{ k *Key }

func (s staticSource) TicketKey(name []byte) (*Key, error) {
	if len(name) == 0 || bytes.Equal(name, s.k.Name[:]) {
		return s.k, nil
	}
	return nil, &StatusError{Request: "tktkey", Status: StatusErr}
}

// FuzzUnwrap opens arbitrary tickets: never an error (that would abort the
// handshake), never a panic; a valid ticket with one byte changed never
// opens. (Seed tickets come from another process with a fresh nonce:
// the key is deterministic, so they open too.)
func FuzzUnwrap(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	tk := NewTickets(staticSource{testKey(1, now.Add(time.Minute))},
		TicketOptions{Lifetime: time.Hour, Now: func() time.Time { return now }})
	valid, err := tk.Wrap("s", tls.ConnectionState{}, testState(f, 3))
	if err != nil {
		f.Fatal(err)
	}
	want := stateBytes(f, testState(f, 3))
	f.Add(valid, 0)
	f.Add(valid[:40], 3)
	f.Add([]byte{}, 0)
	f.Add(bytes.Repeat([]byte{1}, 64), 10)
	f.Fuzz(func(t *testing.T, ticket []byte, flip int) {
		ss, err := tk.Unwrap("s", ticket, tls.ConnectionState{})
		if err != nil {
			t.Fatalf("Unwrap returned an error: %v", err)
		}
		// Only tickets made by Wrap open, and Wrap only ever saw state 3.
		if ss != nil && !bytes.Equal(stateBytes(t, ss), want) {
			t.Fatalf("forged ticket opened")
		}
		if len(ticket) > 0 {
			mod := bytes.Clone(valid)
			mod[(flip&0x7fffffff)%len(mod)] ^= ticket[0] | 1
			if ss, _ := tk.Unwrap("s", mod, tls.ConnectionState{}); ss != nil {
				t.Fatalf("modified ticket opened")
			}
		}
	})
}

// FuzzCacheEntry feeds arbitrary cache values to both entry decoders (what
// a damaged or foreign tlsmgr cache entry would hit). They must never
// panic, and whatever decodes must encode back to the same bytes.
func FuzzCacheEntry(f *testing.F) {
	issued := time.Unix(1_700_000_000, 0)
	for _, e := range []serverEntry{
		{info: SessionInfo{Issued: issued}, scope: "smtpd|0123abcd", state: []byte{3, 4, 1}},
		{info: SessionInfo{ClientCert: true, Issued: issued}, scope: "", state: []byte{0}},
	} {
		b, _ := e.append(nil)
		f.Add(b)
	}
	b, _ := clientEntry{issued: issued, ticket: []byte("ticket"), state: []byte{3, 4}}.append(nil)
	f.Add(b)
	f.Add([]byte("go1s"))
	f.Add([]byte("go1c\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00}) // an OpenSSL DER session
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, err := parseServerEntry(data); err == nil {
			again, err := e.append(nil)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("server entry %q re-encodes as %q, %v", data, again, err)
			}
			tls.ParseSessionState(e.state)
		}
		if e, err := parseClientEntry(data); err == nil {
			again, err := e.append(nil)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("client entry %q re-encodes as %q, %v", data, again, err)
			}
			if ss, err := tls.ParseSessionState(e.state); err == nil {
				tls.NewResumptionState(e.ticket, ss)
			}
		}
	})
}
