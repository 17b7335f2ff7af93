package tlspolicy

import (
	"crypto/tls"
	"errors"
	"net"
)

// A TLS 1.3 client that rejects the server's certificate (OpenSSL's
// "certificate verify failed" on its side) sends its alert before it has
// switched to encryption: a plaintext alert record where the server
// expects records under the client's handshake keys. OpenSSL's server
// accepts plaintext alerts there and reports the alert ("tlsv1 alert
// unknown ca", "... alert certificate expired"); crypto/tls tries to
// decrypt the record and reports a bad record MAC. AlertWatch notes such
// records, so that the failure can be worded as OpenSSL words it.

// AlertWatch passes a peer's bytes through to crypto/tls and keeps the
// alert of the last plaintext alert record it saw whole, until Stop.
// Reads must not run concurrently; Stop happens before any later read.
type AlertWatch struct {
	net.Conn
	stopped bool
	hdr     [5]byte // the current record's header, nhdr bytes of it so far
	nhdr    int
	left    int     // bytes of the current record's body still to come
	body    [2]byte // the first bytes of its body
	nbody   int
	alert   int // description of the last whole 2-byte alert record, -1 if none
}

// NewAlertWatch watches the records read from c.
func NewAlertWatch(c net.Conn) *AlertWatch { return &AlertWatch{Conn: c, alert: -1} }

// Read reads from the connection, noting records until Stop.
func (w *AlertWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if !w.stopped && n > 0 {
		w.scan(p[:n])
	}
	return n, err
}

// Stop ends the watch (after the handshake): reads just pass through.
func (w *AlertWatch) Stop() { w.stopped = true }

func (w *AlertWatch) scan(b []byte) {
	for len(b) > 0 {
		if w.nhdr < len(w.hdr) {
			k := copy(w.hdr[w.nhdr:], b)
			w.nhdr += k
			b = b[k:]
			if w.nhdr == len(w.hdr) {
				w.left, w.nbody = int(w.hdr[3])<<8|int(w.hdr[4]), 0
				w.endRecord()
			}
			continue
		}
		k := min(w.left, len(b))
		w.nbody += copy(w.body[min(w.nbody, len(w.body)):], b[:k])
		w.left -= k
		b = b[k:]
		w.endRecord()
	}
}

// endRecord closes the current record once its body is complete.
func (w *AlertWatch) endRecord() {
	if w.left > 0 {
		return
	}
	if w.hdr[0] == recordTypeAlert && w.hdr[3] == 0 && w.hdr[4] == 2 {
		w.alert = int(w.body[1])
	}
	w.nhdr = 0
}

const recordTypeAlert = 21

// PlainAlert returns the error OpenSSL would have seen for err, the
// error of a handshake at version vers, when the last record the watch
// saw whole was a plaintext alert: a TLS 1.3 handshake that failed on a
// bad record MAC then failed on that alert, received from the peer. Any
// other err is returned as it is. w may be nil.
func (w *AlertWatch) PlainAlert(err error, vers uint16) error {
	if w == nil || w.alert < 0 || vers != tls.VersionTLS13 {
		return err
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "local error" || op.Err == nil {
		return err
	}
	if n, ok := goAlert[op.Err.Error()]; !ok || n != alertBadRecordMAC {
		return err
	}
	return &net.OpError{Op: "remote error", Err: tls.AlertError(uint8(w.alert))}
}
