package tlspolicy

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
)

// Go's server refuses a ClientHello that offers 0-RTT early data with
// alert 110 (unsupported_extension), after GetConfigForClient has seen the
// offer and before anything could change the hello; OpenSSL would reject
// the early data and complete the handshake (README, "What Go's crypto/tls
// cannot do"). If a Go release starts to complete such handshakes, this
// test fails and the README must change.
func TestEarlyDataOfferIsRefused(t *testing.T) {
	hello := earlyDataHello(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var seen []uint16
	f := newFixture(t)
	srv := mustServer(t, f.settings())
	cfg, _ := srv.SessionConfig()
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		seen = h.Extensions
		return nil, nil
	}
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(a, cfg).Handshake() }()
	go func() { _, _ = b.Write(hello) }()
	alert := make([]byte, 7)
	if _, err := io.ReadFull(b, alert); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if alert[0] != 21 || alert[6] != 110 || err == nil || !strings.Contains(err.Error(), "early data") {
		t.Errorf("server sent % x, handshake error %v; want alert 110 and an early data error", alert, err)
	}
	if !slices.Contains(seen, 42) {
		t.Errorf("GetConfigForClient saw extensions %v, without early_data (42)", seen)
	}
}

// earlyDataHello is a Go client's TLS 1.3 ClientHello record with an
// early_data extension appended.
func earlyDataHello(t *testing.T) []byte {
	t.Helper()
	rec := pftest.ClientHello(t)
	// record(5) handshake header(4) version(2) random(32) session id,
	// cipher suites, compression methods, then the extensions' length.
	p := 5 + 4 + 2 + 32
	p += 1 + int(rec[p])
	p += 2 + (int(rec[p])<<8 | int(rec[p+1]))
	p += 1 + int(rec[p])
	extLen := int(rec[p])<<8 | int(rec[p+1])
	if p+2+extLen != len(rec) {
		t.Fatalf("cannot parse the ClientHello (extensions end at %d of %d)", p+2+extLen, len(rec))
	}
	rec = append(rec, 0, 42, 0, 0) // early_data, empty
	put16 := func(at, v int) { rec[at], rec[at+1] = byte(v>>8), byte(v) }
	put16(p, extLen+4)
	put16(3, len(rec)-5)
	hs := len(rec) - 9
	rec[6], rec[7], rec[8] = byte(hs>>16), byte(hs>>8), byte(hs)
	return rec
}
