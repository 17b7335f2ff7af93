package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// fakeServer is a loopback SMTP server with STARTTLS, standing in for
// postscreen + tlsproxy. noopReply is its answer to NOOP inside TLS.
func fakeServer(t *testing.T, noopReply string) *target {
	t.Helper()
	ca := pftest.NewCA(t, "Soak CA")
	certPEM, keyPEM := ca.Issue(t, "localhost", []string{"localhost"}, pftest.KeyECDSA256)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := pftest.CertPool(t, ca.CertPEM)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pftest.ServeEach(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		serveSMTP(c, &tls.Config{Certificates: []tls.Certificate{cert}}, noopReply)
	})
	return &target{addr: ln.Addr().String(), roots: roots}
}

func serveSMTP(c net.Conn, cfg *tls.Config, noopReply string) {
	var rw io.ReadWriter = c
	r := bufio.NewReader(rw)
	say := func(s string) { _, _ = io.WriteString(rw, s+"\r\n") }
	say("220-fake")
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO":
			say("250-fake")
			say("250 STARTTLS")
		case "STARTTLS":
			say("220 2.0.0 Ready to start TLS")
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			rw = tc
			r = bufio.NewReader(tc)
		case "NOOP":
			say(noopReply)
		case "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			say("502 5.5.2 Error: command not recognized")
		}
	}
}

func TestSessionCountsBytes(t *testing.T) {
	tg := fakeServer(t, "250 2.0.0 Ok")
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		up, down, kind := session(tg, rnd, 1900)
		if kind != "" {
			t.Fatalf("session failed: %s", kind)
		}
		// EHLO + at least one NOOP + QUIT up; EHLO, NOOP and QUIT replies down.
		if up < int64(len("EHLO soak.test\r\nNOOP \r\nQUIT\r\n")) || down < int64(len("250-fake\r\n250 STARTTLS\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n")) {
			t.Errorf("bytes up %d, down %d", up, down)
		}
	}
}

func TestSessionErrorKinds(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	if _, _, kind := session(fakeServer(t, "554 5.7.1 injected"), rnd, 10); kind != "noop: unexpected reply" {
		t.Errorf("wrong NOOP reply: kind %q", kind)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, _, kind := session(&target{addr: addr}, rnd, 10); kind != "connect: refused" {
		t.Errorf("nothing listening: kind %q", kind)
	}
}

func TestReply(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"250 ok\r\n", 250, true},
		{"250-a\r\n250-b\r\n250 c\r\n", 250, true},
		{"554 no\r\n", 250, false},
		{"25\r\n", 250, false},
		{"250-a\r\n", 250, false}, // EOF inside the reply
	}
	for _, tt := range tests {
		_, err := reply(bufio.NewReader(strings.NewReader(tt.in)), tt.want)
		if (err == nil) != tt.ok {
			t.Errorf("reply(%q): %v", tt.in, err)
		}
	}
}

func TestSampleProcsOwnStatus(t *testing.T) {
	if n := rssKiB("/proc/self/status"); n <= 0 {
		t.Skipf("no VmRSS in /proc/self/status (%d)", n)
	}
	env, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		t.Skip(err)
	}
	if len(os.Environ()) > 0 && !containsVar(env, os.Environ()[0]) {
		t.Errorf("containsVar misses %q", os.Environ()[0])
	}
	if s := sampleProcs("/nonexistent/config"); s.Procs != 0 {
		t.Errorf("found %d tlsproxy processes for a made-up MAIL_CONFIG", s.Procs)
	}
}
