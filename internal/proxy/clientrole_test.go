package proxy

import (
	"crypto/tls"
	"io"
	"testing"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// clientFixture is a proxy server with the client role enabled, and the
// remote TLS server's configuration (the fixture's certificate).
func clientFixture(t *testing.T) (*fixture, *tls.Config) {
	t.Helper()
	fx := newFixture(t, nil)
	cl, err := tlsclient.New(tlsclient.Settings{WildcardMultipleLabels: true}, logs.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fx.srv.Client = cl
	fx.srv.ClientInit = map[string]string{} // no files, as the requests
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return fx, &tls.Config{Certificates: []tls.Certificate{cert}}
}

// TestClientRoleSession: smtp(8) of several releases hands a connection
// to a remote SMTP server over; tlsproxy is the TLS client, sends the
// context in the shape that release reads, and relays both ways.
func TestClientRoleSession(t *testing.T) {
	for _, vs := range []string{"3.4.0", "3.7.11", "3.9.14", "3.11.6", "3.12-20260821"} {
		t.Run(vs, func(t *testing.T) {
			fx, scfg := clientFixture(t)
			fx.srv.Generations = &Generations{Expect: pfversion.MustParse(vs), Pinned: true}
			path := fx.listen(t)
			rc, rf, err := pftest.NewRemotePair()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			remote := tls.Server(rc, scfg)
			hs := make(chan error, 1)
			go func() { hs <- remote.Handshake() }()
			r := pfclient.ClientRole(pfversion.MustParse(vs), "[127.0.0.1]:25", "mx.example.test[127.0.0.1]:25")
			r.Props = map[string]string{"log_level": "1"} // smtp_tls_loglevel: the summary line
			c, st, err := pfclient.Open(path, r, rf)
			rf.Close()
			if err != nil || st != 1 {
				t.Fatalf("status %d, %v", st, err)
			}
			defer c.Close()
			if err := <-hs; err != nil {
				t.Fatalf("remote handshake: %v", err)
			}
			l, err := c.Context(pfclient.ContextLen(r))
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := l.Get("peer_CN"); v != "mx.example.test" {
				t.Errorf("peer_CN %q", v)
			}
			if _, err := remote.Write([]byte("220 mx ESMTP\r\n")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 14)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "220 mx ESMTP\r\n" {
				t.Fatalf("smtp side got %q, %v", b, err)
			}
			if _, err := c.Write([]byte("EHLO me\r\n")); err != nil {
				t.Fatal(err)
			}
			b = make([]byte, 9)
			if _, err := io.ReadFull(remote, b); err != nil || string(b) != "EHLO me\r\n" {
				t.Fatalf("remote got %q, %v", b, err)
			}
			c.Close() // scache drops the connection: close_notify
			if rest, err := io.ReadAll(remote); err != nil || len(rest) != 0 {
				t.Fatalf("remote after close: %q, %v", rest, err)
			}
			waitLine(t, fx, "DISCONNECT [127.0.0.1]:25")
			wantLines(t, fx.rec, []string{"CONNECT to [127.0.0.1]:25",
				"Untrusted TLS connection established to mx.example.test[127.0.0.1]:25: ",
				"DISCONNECT [127.0.0.1]:25"}, []string{"warning:", "handshake failed"})
		})
	}
}

// TestClientRoleInjection: bytes a remote server (or a man in the middle)
// sends before its TLS handshake never reach smtp(8): the handshake fails
// and the plaintext side sees EOF without a byte.
func TestClientRoleInjection(t *testing.T) {
	fx, scfg := clientFixture(t)
	path := fx.listen(t)
	rc, rf, err := pftest.NewRemotePair()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Write([]byte("250 injected reply\r\n")); err != nil {
		t.Fatal(err)
	}
	go tls.Server(rc, scfg).Handshake()
	r := pfclient.ClientRole(pfversion.MustParse("3.7.11"), "[127.0.0.1]:26", "mx.example.test[127.0.0.1]:26")
	c, st, err := pfclient.Open(path, r, rf)
	rf.Close()
	if err != nil || st != 1 {
		t.Fatalf("status %d, %v", st, err)
	}
	defer c.Close()
	all, err := io.ReadAll(c)
	if err != nil || len(all) != 0 {
		t.Fatalf("smtp side got %q, %v; want EOF and nothing", all, err)
	}
	waitLine(t, fx, "DISCONNECT [127.0.0.1]:26")
	wantLines(t, fx.rec, []string{"CONNECT to [127.0.0.1]:26",
		"TLS handshake failed for service=", "DISCONNECT [127.0.0.1]:26"}, []string{"established"})
}
