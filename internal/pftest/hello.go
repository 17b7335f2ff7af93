package pftest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// ClientHello returns the first record a Go TLS client sends: its
// ClientHello for the server name mx.example.test.
func ClientHello(t testing.TB) []byte {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(a, &tls.Config{ServerName: "mx.example.test", InsecureSkipVerify: true}).Handshake()
	}()
	defer func() { a.Close(); b.Close(); <-done }()
	rec := make([]byte, 5)
	if _, err := io.ReadFull(b, rec); err != nil {
		t.Fatalf("pftest: ClientHello: %v", err)
	}
	rec = append(rec, make([]byte, int(rec[3])<<8|int(rec[4]))...)
	if _, err := io.ReadFull(b, rec[5:]); err != nil {
		t.Fatalf("pftest: ClientHello: %v", err)
	}
	return rec
}
