package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	reasonCertOnce sync.Once
	reasonCert     tls.Certificate
	reasonCertErr  error
)

// reasonServerCert is a self-signed ECDSA certificate for "localhost".
func reasonServerCert(t *testing.T) tls.Certificate {
	t.Helper()
	reasonCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			reasonCertErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "localhost"},
			DNSNames:     []string{"localhost"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		reasonCert, reasonCertErr = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, err
	})
	if reasonCertErr != nil {
		t.Fatal(reasonCertErr)
	}
	return reasonCert
}

// failedHandshake runs a crypto/tls server (TLS 1.2 and 1.3) over a pipe
// against client and returns the server's handshake error and state.
func failedHandshake(t *testing.T, client func(net.Conn)) (error, tls.ConnectionState) {
	t.Helper()
	sc, cc := net.Pipe()
	srv := tls.Server(sc, &tls.Config{
		Certificates: []tls.Certificate{reasonServerCert(t)},
		MinVersion:   tls.VersionTLS12,
	})
	if err := sc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		client(cc)
		_, _ = io.Copy(io.Discard, cc) // until the server side closes
	}()
	err := srv.Handshake()
	if err == nil {
		// TLS 1.3: the client's Finished is checked on the first read.
		_, err = srv.Read(make([]byte, 1))
	}
	st := srv.ConnectionState()
	sc.Close()
	<-done
	cc.Close()
	return err, st
}

func sendRaw(b string) func(net.Conn) {
	return func(c net.Conn) { _, _ = io.WriteString(c, b) }
}

func goClient(cfg *tls.Config, corrupt bool) func(net.Conn) {
	return func(c net.Conn) {
		cfg := cfg.Clone()
		cfg.ServerName = "localhost"
		if corrupt {
			c = &corruptAfterCCS{Conn: c}
		}
		_ = tls.Client(c, cfg).Handshake()
	}
}

// corruptAfterCCS flips a bit of the first record written after the
// ChangeCipherSpec record, so that its decryption fails at the server.
type corruptAfterCCS struct {
	net.Conn
	buf           []byte
	seenCCS, done bool
}

func (c *corruptAfterCCS) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	var out []byte
	for len(c.buf) >= 5 {
		n := 5 + (int(c.buf[3])<<8 | int(c.buf[4]))
		if len(c.buf) < n {
			break
		}
		rec := slices.Clone(c.buf[:n])
		c.buf = c.buf[n:]
		if rec[0] == 20 {
			c.seenCCS = true
		} else if c.seenCCS && !c.done {
			rec[n-1] ^= 1
			c.done = true
		}
		out = append(out, rec...)
	}
	if c.done {
		out, c.buf = append(out, c.buf...), nil
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

const (
	wantCipherOp = "error:1C800066:Provider routines::cipher operation failed:crypto/tls/conn.go:0:"
	wantBadMAC   = "error:0A000119:SSL routines::decryption failed or bad record mac:crypto/tls/conn.go:0:"
	// OpenSSL 3.2+ adds it after an error of its record layer that
	// sends an alert.
	wantRecordLayer = "error:0A000139:SSL routines::record layer failure:crypto/tls/conn.go:0:"
	// Reasons that several rows share.
	wantHTTP         = "error:0A00009C:SSL routines::http request:crypto/tls/conn.go:0:"
	wantWrongVersion = "error:0A00010B:SSL routines::wrong version number:crypto/tls/conn.go:0:"
	wantUnexpected   = "error:0A0000F4:SSL routines::unexpected message:crypto/tls/conn.go:0:"
)

// TestLibraryProblemsHandshakes fails real crypto/tls handshakes the way
// remote clients do and checks the OpenSSL words; the wanted codes and
// words are those Debian 12's tlsproxy logs for the same bytes (see
// internal/interop TestHandshakeFailureReasons).
func TestLibraryProblemsHandshakes(t *testing.T) {
	tests := []struct {
		name   string
		client func(net.Conn)
		want   []string // OpenSSL 3.0's words (Debian 12)
		want35 []string // OpenSSL 3.5's (Debian 13), if they differ
	}{
		{"TLS 1.0 only", goClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false),
			[]string{"error:0A000102:SSL routines::unsupported protocol:crypto/tls/handshake_server.go:0:"}, nil},
		{"TLS 1.1 only", goClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false),
			[]string{"error:0A000102:SSL routines::unsupported protocol:crypto/tls/handshake_server.go:0:"}, nil},
		{"SSLv2 hello", sendRaw("\x80\x1f\x01\x03\x01\x00\x06\x00\x00\x00\x10\x00\x00\x2f\x00\x00\x350123456789abcdef"),
			[]string{"error:0A000102:SSL routines::unsupported protocol:crypto/tls/conn.go:0:"}, nil},
		{"RC4 only", goClient(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}}, false),
			[]string{"error:0A0000C1:SSL routines::no shared cipher:crypto/tls/handshake_server.go:0:"}, nil},
		{"client rejects the certificate", goClient(&tls.Config{}, false),
			[]string{"error:0A000412:SSL routines::sslv3 alert bad certificate:crypto/tls/conn.go:0:SSL alert number 42:"},
			[]string{"error:0A000412:SSL routines::ssl/tls alert bad certificate:crypto/tls/conn.go:0:SSL alert number 42:"}},
		{"bad record MAC, TLS 1.2 AES-GCM", goClient(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, true),
			[]string{wantCipherOp, wantBadMAC}, []string{wantCipherOp, wantBadMAC, wantRecordLayer}},
		{"bad record MAC, TLS 1.2 ChaCha20", goClient(&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true),
			[]string{wantBadMAC}, []string{wantBadMAC, wantRecordLayer}},
		{"bad record MAC, TLS 1.3", goClient(&tls.Config{InsecureSkipVerify: true}, true), []string{wantBadMAC}, []string{wantBadMAC, wantRecordLayer}},
		{"HTTP GET", sendRaw("GET / HTTP/1.0\r\n\r\n"), []string{wantHTTP}, nil},
		{"HTTP POST", sendRaw("POST / HTTP/1.0\r\n\r\n"), []string{wantHTTP}, nil},
		{"HTTP HEAD", sendRaw("HEAD / HTTP/1.0\r\n\r\n"), []string{wantHTTP}, nil},
		{"HTTP PUT", sendRaw("PUT / HTTP/1.0\r\n\r\n"), []string{wantHTTP}, nil},
		{"proxy CONNECT", sendRaw("CONNECT a:443 HTTP/1.0\r\n\r\n"), []string{"error:0A00009B:SSL routines::https proxy request:crypto/tls/conn.go:0:"}, nil},
		{"text", sendRaw("this is not a ClientHello\r\n"), []string{wantWrongVersion}, nil},
		{"handshake type, version 3.48", sendRaw("\x16\x30\x30\x00\x05hello"), []string{wantWrongVersion}, nil},
		{"Finished first", sendRaw("\x16\x03\x01\x00\x10\x14\x00\x00\x0c0123456789ab"), []string{"error:0A0000F4:SSL routines::unexpected message:crypto/tls/common.go:0:"}, nil},
		{"application data first", sendRaw("\x17\x03\x03\x00\x05hello"), []string{wantUnexpected}, nil},
		{"ChangeCipherSpec first", sendRaw("\x14\x03\x03\x00\x01\x01"), []string{wantUnexpected}, nil},
		{"alert first", sendRaw("\x15\x03\x03\x00\x02\x02\x28"), []string{wantUnexpected}, nil},
		{"short ClientHello", sendRaw("\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"), []string{"error:0A00009F:SSL routines::length mismatch:crypto/tls/conn.go:0:"}, nil},
		{"oversized record", sendRaw("\x16\x03\x01\xff\xff"), []string{"error:0A0000C6:SSL routines::packet length too long:crypto/tls/conn.go:0:"},
			[]string{"error:0A000092:SSL routines::data length too long:crypto/tls/conn.go:0:", wantRecordLayer}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, st := failedHandshake(t, tc.client)
			if err == nil {
				t.Fatal("handshake succeeded")
			}
			want35 := tc.want35
			if want35 == nil {
				want35 = tc.want
			}
			for _, w := range []struct {
				version string
				want    []string
			}{{openSSL30, tc.want}, {openSSL35, want35}} {
				withOpenSSL(t, w.version, func() {
					got := LibraryProblems(err, st.Version, st.CipherSuite)
					if !slices.Equal(got, w.want) {
						t.Errorf("%s, Go error %q (version %x, suite %x):\n got %q\nwant %q", w.version, err, st.Version, st.CipherSuite, got, w.want)
					}
				})
			}
		})
	}
}

// TestLibraryProblemsErrors covers errors made by hand: alerts by number,
// texts without an OpenSSL counterpart.
func TestLibraryProblemsErrors(t *testing.T) {
	remote := func(n uint8) error { return &net.OpError{Op: "remote error", Err: tls.AlertError(n)} }
	tests := []struct {
		name string
		err  error
		vers uint16
		want []string
	}{
		{"nil", nil, 0, nil},
		{"unknown ca", remote(48), tls.VersionTLS13, []string{"error:0A000418:SSL routines::tlsv1 alert unknown ca:crypto/tls/conn.go:0:SSL alert number 48:"}},
		{"certificate unknown", remote(46), tls.VersionTLS12, []string{"error:0A000416:SSL routines::sslv3 alert certificate unknown:crypto/tls/conn.go:0:SSL alert number 46:"}},
		{"protocol version", remote(70), tls.VersionTLS12, []string{"error:0A00042E:SSL routines::tlsv1 alert protocol version:crypto/tls/conn.go:0:SSL alert number 70:"}},
		{"alert without words", remote(255), tls.VersionTLS12, []string{"error:0A0004E7:SSL routines::reason(1255):crypto/tls/conn.go:0:SSL alert number 255:"}},
		{"alert before hello", remote(46), 0, []string{wantUnexpected}},
		{"wrapped", fmt.Errorf("handshake: %w", remote(48)), tls.VersionTLS13, []string{"error:0A000418:SSL routines::tlsv1 alert unknown ca:crypto/tls/conn.go:0:SSL alert number 48:"}},
		{"record version", errors.New("tls: received record with version 301 when expecting version 303"), tls.VersionTLS12,
			[]string{wantWrongVersion}},
		{"no common group", errors.New("tls: no key exchanges supported by both client and server"), tls.VersionTLS13,
			[]string{"error:0A000065:SSL routines::no suitable key share:crypto/tls/handshake_server_tls13.go:0:"}},
		{"server version", errors.New("tls: server selected unsupported protocol version 301"), 0,
			[]string{"error:0A000102:SSL routines::unsupported protocol:crypto/tls/handshake_client.go:0:"}},
		{"unmapped, version names", errors.New("tls: something about versions [302 301] and version 304"), 0,
			[]string{"tls: something about versions [TLSv1.1 TLSv1] and version TLSv1.3"}},
		{"unmapped, other numbers", errors.New("tls: record 301 of version 3031 length 303x"), 0,
			[]string{"tls: record 301 of version 3031 length 303x"}},
		{"unmapped, no version", errors.New("tls: invalid signature 303"), 0, []string{"tls: invalid signature 303"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LibraryProblems(tc.err, tc.vers, 0); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

const (
	openSSL30 = "OpenSSL 3.0.19 27 Jan 2026"
	openSSL35 = "OpenSSL 3.5.9 29 Sep 2026"
)

// withOpenSSL runs f with the words of OpenSSL version, then restores
// the words in use before.
func withOpenSSL(t *testing.T, version string, f func()) {
	t.Helper()
	old := words.Load()
	defer words.Store(old)
	SetOpenSSLVersion(version)
	f()
}

// TestLibraryProblemsOpenSSL35 covers OpenSSL 3.2+'s words for errors
// made by hand, as Debian 13's tlsproxy logs them.
func TestLibraryProblemsOpenSSL35(t *testing.T) {
	remote := func(n uint8) error { return &net.OpError{Op: "remote error", Err: tls.AlertError(n)} }
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"certificate expired", remote(45), []string{"error:0A000415:SSL routines::ssl/tls alert certificate expired:crypto/tls/conn.go:0:SSL alert number 45:"}},
		{"unknown ca", remote(48), []string{"error:0A000418:SSL routines::tlsv1 alert unknown ca:crypto/tls/conn.go:0:SSL alert number 48:"}},
		{"record version", errors.New("tls: received record with version 301 when expecting version 303"),
			[]string{wantWrongVersion, wantRecordLayer}},
		{"unsupported versions", errors.New("tls: client offered only unsupported versions: [302 301]"),
			[]string{"error:0A000102:SSL routines::unsupported protocol:crypto/tls/handshake_server.go:0:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			withOpenSSL(t, openSSL35, func() {
				if got := LibraryProblems(tc.err, tls.VersionTLS12, 0); !slices.Equal(got, tc.want) {
					t.Errorf("got %q\nwant %q", got, tc.want)
				}
			})
		})
	}
}

// TestSetOpenSSLVersion: which version texts select 3.2's words.
func TestSetOpenSSLVersion(t *testing.T) {
	tests := []struct {
		version string
		want    bool
	}{
		{openSSL30, false},
		{openSSL35, true},
		{"OpenSSL 3.2.0 23 Nov 2023", true},
		{"OpenSSL 3.1.8 11 Feb 2025", false},
		{"OpenSSL 4.0.0 1 Apr 2026", true},
		{"OpenSSL 1.1.1w  11 Sep 2023", false},
		{"pure Go (built without -tags libcrypto)", false},
		{"LibreSSL 3.9.2", false},
		{"", false},
	}
	for _, tc := range tests {
		withOpenSSL(t, openSSL30, func() {
			if got := SetOpenSSLVersion(tc.version); got != tc.want {
				t.Errorf("SetOpenSSLVersion(%q) = %v, want %v", tc.version, got, tc.want)
			}
		})
	}
}

// thenPlainAlert passes the client's first write (its ClientHello) and
// sends a plaintext alert record (unknown CA) in place of the next one,
// as an OpenSSL TLS 1.3 client does when it rejects the certificate.
type thenPlainAlert struct {
	net.Conn
	writes int
}

func (c *thenPlainAlert) Write(p []byte) (int, error) {
	c.writes++
	switch c.writes {
	case 1:
		return c.Conn.Write(p)
	case 2:
		if _, err := io.WriteString(c.Conn, "\x15\x03\x03\x00\x02\x02\x30"); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// TestPlainAlert: the plaintext alert of a TLS 1.3 client is reported as
// that alert (OpenSSL's server accepts it), not as crypto/tls's bad
// record MAC; without a watch, or with TLS 1.2, nothing changes.
func TestPlainAlert(t *testing.T) {
	for _, watched := range []bool{true, false} {
		sc, cc := net.Pipe()
		var conn net.Conn = sc
		w := NewAlertWatch(sc)
		if watched {
			conn = w
		} else {
			w = nil
		}
		srv := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{reasonServerCert(t)}})
		if err := sc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = tls.Client(&thenPlainAlert{Conn: cc}, &tls.Config{InsecureSkipVerify: true}).Handshake()
			cc.Close()
		}()
		err := srv.Handshake()
		vers := srv.ConnectionState().Version
		sc.Close()
		<-done
		got := LibraryProblems(w.PlainAlert(err, vers), vers, 0)
		want := []string{"error:0A000418:SSL routines::tlsv1 alert unknown ca:crypto/tls/conn.go:0:SSL alert number 48:"}
		if !watched {
			want = []string{wantBadMAC}
		}
		if !slices.Equal(got, want) {
			t.Errorf("watched %v: Go error %v (version %x):\n got %q\nwant %q", watched, err, vers, got, want)
		}
	}
	// Other errors and versions pass through.
	w := &AlertWatch{alert: 48}
	other := errors.New("tls: no cipher suite supported by both client and server")
	if got := w.PlainAlert(other, tls.VersionTLS13); got != other {
		t.Errorf("other error changed: %v", got)
	}
	badMAC := &net.OpError{Op: "local error", Err: tls.AlertError(20)}
	if got := w.PlainAlert(badMAC, tls.VersionTLS12); got != error(badMAC) {
		t.Errorf("TLS 1.2 error changed: %v", got)
	}
}

// TestAlertWatchScan feeds records in pieces of every size.
func TestAlertWatchScan(t *testing.T) {
	stream := "\x16\x03\x01\x00\x03abc" + "\x15\x03\x03\x00\x02\x02\x2a" + "\x17\x03\x03\x00\x01z"
	for size := 1; size <= len(stream); size++ {
		w := &AlertWatch{alert: -1}
		for i := 0; i < len(stream); i += size {
			w.scan([]byte(stream[i:min(i+size, len(stream))]))
		}
		if w.alert != 42 || w.nhdr != 0 || w.left != 0 {
			t.Errorf("pieces of %d: alert %d, header %d, left %d; want 42, 0, 0", size, w.alert, w.nhdr, w.left)
		}
	}
	w := &AlertWatch{alert: -1}
	w.scan([]byte("\x15\x03\x03\x00\x03\x02\x2a\x00"))
	if w.alert != -1 {
		t.Errorf("3-byte alert record taken for an alert: %d", w.alert)
	}
}
