package tlspolicy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

type serverResult struct {
	state  tls.ConnectionState
	served *tls.Certificate
	err    error
}

// handshake runs one TLS handshake over loopback TCP between a Go client
// and srv, and returns the server's view, the client's state and error.
func handshake(t *testing.T, srv *Server, client *tls.Config) (serverResult, tls.ConnectionState, error) {
	t.Helper()
	ln := pftest.ListenTCP(t)
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := pftest.AcceptOne(ln, func(c net.Conn) serverResult {
		c.SetDeadline(deadline)
		cfg, served := srv.SessionConfig()
		tc := tls.Server(c, cfg)
		err := tc.Handshake()
		if err == nil {
			// Complete the exchange so that a TLS 1.3 client learns
			// about late rejections before we report.
			_, err = tc.Write([]byte("ok"))
		}
		return serverResult{state: tc.ConnectionState(), served: served(), err: err}
	}, func(err error) serverResult { return serverResult{err: err} })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if client.ServerName == "" {
		client.ServerName = "mx.example.test"
	}
	client.InsecureSkipVerify = true
	tc := tls.Client(conn, client)
	cerr := tc.Handshake()
	if cerr == nil {
		buf := make([]byte, 2)
		_, cerr = tc.Read(buf)
	}
	if cerr != nil {
		conn.Close() // unblock the server
	}
	return <-done, tc.ConnectionState(), cerr
}

func mustServer(t testing.TB, s ServerSettings) *Server {
	t.Helper()
	srv, warnings, err := newServer(t, s)
	if err != nil || !srv.Enabled {
		t.Fatalf("NewServer: %v, enabled=%v, warnings %q", err, srv != nil && srv.Enabled, warnings)
	}
	return srv
}

func TestHandshakeServerCerts(t *testing.T) {
	f := newFixture(t)
	rsaOnly := f.settings()
	ecOnly := f.settings()
	ecOnly.CertFile, ecOnly.KeyFile, ecOnly.ECCertFile, ecOnly.ECKeyFile = "", "", f.ecCert, f.ecKey
	both := f.settings()
	both.ECCertFile, both.ECKeyFile = f.ecCert, f.ecKey
	chains := f.settings()
	chains.CertFile, chains.KeyFile, chains.ChainFiles = "", "", f.edChain+" "+f.rsaChain

	tests := []struct {
		name     string
		settings ServerSettings
		client   *tls.Config
		proto    string
		cipher   string // prefix
		sig      string // server signature part of the summary ("" = none)
	}{
		{"rsa tls13", rsaOnly, &tls.Config{}, "TLSv1.3", "TLS_AES_", " server-signature RSA-PSS (2048 bits) server-digest SHA256"},
		{"rsa tls12", rsaOnly, &tls.Config{MaxVersion: tls.VersionTLS12}, "TLSv1.2", "ECDHE-RSA-", ""},
		{"rsa tls11", rsaOnly, &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, "TLSv1.1", "ECDHE-RSA-AES", ""},
		{"rsa tls10", rsaOnly, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, "TLSv1", "ECDHE-RSA-AES", ""},
		{"ecdsa tls13", ecOnly, &tls.Config{}, "TLSv1.3", "TLS_AES_", " server-signature ECDSA (prime256v1) server-digest SHA256"},
		{"ecdsa tls12", ecOnly, &tls.Config{MaxVersion: tls.VersionTLS12}, "TLSv1.2", "ECDHE-ECDSA-", ""},
		{"both tls12 ecdsa suites", both, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", ""},
		{"both tls12 rsa suites", both, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", ""},
		{"chain files tls13", chains, &tls.Config{}, "TLSv1.3", "TLS_AES_", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustServer(t, tt.settings)
			res, cs, err := handshake(t, srv, tt.client)
			if err != nil || res.err != nil {
				t.Fatalf("handshake: client %v, server %v", err, res.err)
			}
			if res.served == nil || !bytes.Equal(res.served.Certificate[0], cs.PeerCertificates[0].Raw) {
				t.Fatal("SessionConfig did not record the served certificate")
			}
			info := ServerInfo(res.state, srv, res.served)
			if info.Protocol != tt.proto || !strings.HasPrefix(info.CipherName, tt.cipher) || info.CipherUseBits == 0 {
				t.Errorf("protocol %q cipher %q (%d bits)", info.Protocol, info.CipherName, info.CipherUseBits)
			}
			line := info.Summary("from", "[127.0.0.1]:1025")
			wantStart := "Anonymous TLS connection established from [127.0.0.1]:1025: " + tt.proto + " with cipher " + info.CipherName
			if !strings.HasPrefix(line, wantStart) {
				t.Errorf("summary %q", line)
			}
			if tt.proto == "TLSv1.3" {
				if info.KexName != "X25519MLKEM768" {
					t.Errorf("key exchange %q", info.KexName)
				}
				if tt.sig != "" && !strings.HasSuffix(line, tt.sig) {
					t.Errorf("summary %q lacks %q", line, tt.sig)
				}
				if tt.sig == "" && !strings.Contains(line, " server-signature ") {
					t.Errorf("summary %q lacks a server signature", line)
				}
			} else if strings.Contains(line, "key-exchange") || strings.Contains(line, "signature") {
				t.Errorf("TLS <1.3 summary with details: %q", line)
			}
		})
	}
}

func TestHandshakeProtocols(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		protocols string
		version   uint16
		ok        bool
	}{
		{">=TLSv1", tls.VersionTLS10, true},
		{">=TLSv1.2", tls.VersionTLS10, false},
		{">=TLSv1.2", tls.VersionTLS11, false},
		{">=TLSv1.2", tls.VersionTLS12, true},
		{"!TLSv1.1", tls.VersionTLS11, false},
		{"!TLSv1.1", tls.VersionTLS10, true},
		{"!TLSv1.1", tls.VersionTLS12, true},
		{"TLSv1 TLSv1.3", tls.VersionTLS12, false},
		{"<=TLSv1.2", tls.VersionTLS13, false},
		{"<=TLSv1.2", tls.VersionTLS12, true},
	}
	for _, tt := range tests {
		t.Run(tt.protocols+" "+protocolName(tt.version), func(t *testing.T) {
			s := f.settings()
			s.Protocols = tt.protocols
			srv := mustServer(t, s)
			res, _, cerr := handshake(t, srv, &tls.Config{MinVersion: tt.version, MaxVersion: tt.version})
			ok := cerr == nil && res.err == nil
			if ok != tt.ok {
				t.Fatalf("handshake ok=%v (client %v, server %v), want %v", ok, cerr, res.err, tt.ok)
			}
			if ok && res.state.Version != tt.version {
				t.Errorf("version %#x", res.state.Version)
			}
		})
	}
}

func TestHandshakeClientCert(t *testing.T) {
	f := newFixture(t)
	clientPair, err := tls.LoadX509KeyPair(f.clientCert, f.client)
	if err != nil {
		t.Fatal(err)
	}
	selfCert, selfKey := pftest.SelfSigned(t, "stranger.example.test", pftest.KeyECDSA256)
	selfPair, err := tls.X509KeyPair(selfCert, selfKey)
	if err != nil {
		t.Fatal(err)
	}
	s := f.settings()
	s.AskCcert, s.CAfile = true, f.caFile
	srv := mustServer(t, s)

	tests := []struct {
		name    string
		cert    *tls.Certificate
		version uint16
		status  int
		adj     string
		cn      string
		issuer  string
	}{
		{"trusted tls13", &clientPair, tls.VersionTLS13, PeerPresent | PeerTrusted, "Trusted", "client.example.test", "Test CA"},
		{"trusted tls12", &clientPair, tls.VersionTLS12, PeerPresent | PeerTrusted, "Trusted", "client.example.test", "Test CA"},
		{"untrusted", &selfPair, tls.VersionTLS13, PeerPresent, "Untrusted", "stranger.example.test", "stranger.example.test"},
		{"anonymous", nil, tls.VersionTLS13, 0, "Anonymous", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acceptable [][]byte
			client := &tls.Config{MaxVersion: tt.version,
				GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
					acceptable = cri.AcceptableCAs
					if tt.cert == nil {
						return &tls.Certificate{}, nil
					}
					return tt.cert, nil
				}}
			res, _, cerr := handshake(t, srv, client)
			if cerr != nil || res.err != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, res.err)
			}
			if len(acceptable) != 1 || !bytes.Equal(acceptable[0], f.ca.Cert.RawSubject) {
				t.Errorf("acceptable CAs %q, want the CAfile subject", acceptable)
			}
			info := ServerInfo(res.state, srv, res.served)
			if info.PeerStatus != tt.status || info.PeerCN != tt.cn || info.IssuerCN != tt.issuer {
				t.Errorf("status %d CN %q issuer %q", info.PeerStatus, info.PeerCN, info.IssuerCN)
			}
			if !strings.HasPrefix(info.Summary("from", "[127.0.0.1]:1"), tt.adj+" TLS connection established from [127.0.0.1]:1: ") {
				t.Errorf("summary %q", info.Summary("from", "[127.0.0.1]:1"))
			}
			if tt.cert != nil {
				leaf, _ := x509.ParseCertificate(tt.cert.Certificate[0])
				if info.PeerFingerprint != Fingerprint("sha256", leaf.Raw) || len(info.PeerFingerprint) != 32*3-1 {
					t.Errorf("fingerprint %q", info.PeerFingerprint)
				}
			}
		})
	}
}

// TestContextGolden checks the complete context reply for a TLS 1.3
// session with a trusted Ed25519 client certificate (deterministic, so the
// fingerprints are stable); cipher fields are normalized because Go picks
// AES-128-GCM or ChaCha20 depending on the CPU.
func TestContextGolden(t *testing.T) {
	f := newFixture(t)
	pair, err := tls.LoadX509KeyPair(f.clientCert, f.client)
	if err != nil {
		t.Fatal(err)
	}
	s := f.settings()
	s.AskCcert, s.CAfile = true, f.caFile
	srv := mustServer(t, s)
	res, _, cerr := handshake(t, srv, &tls.Config{Certificates: []tls.Certificate{pair}})
	if cerr != nil || res.err != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, res.err)
	}
	info := ServerInfo(res.state, srv, res.served)
	var b strings.Builder
	for _, nv := range info.Context("[127.0.0.1]:48660") {
		switch nv.Name {
		case "cipher_name", "cipher_usebits", "cipher_algbits":
			nv.Value = "<" + nv.Name + ">"
		}
		b.WriteString(nv.Name + "=" + nv.Value + "\n")
	}
	b.WriteString(info.PeerCertLine("[127.0.0.1]:48660") + "\n")
	pftest.Golden(t, "context-tls13-clientcert.golden", b.String(), *pftest.Update)
}

// TestResumption checks that session tickets issued through one
// SessionConfig clone are accepted by another, and what a resumed TLS 1.3
// session reports (no certificate served: the first one is described,
// without digests).
func TestResumption(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, f.settings())
	client := &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	if res, _, err := handshake(t, srv, client); err != nil || res.err != nil || res.state.DidResume {
		t.Fatalf("first handshake: client %v, server %v, resumed %v", err, res.err, res.state.DidResume)
	}
	res, _, err := handshake(t, srv, client)
	if err != nil || res.err != nil || !res.state.DidResume {
		t.Fatalf("second handshake: client %v, server %v, resumed %v", err, res.err, res.state.DidResume)
	}
	info := ServerInfo(res.state, srv, res.served)
	if !info.Resumed || info.ServerSig != (Signature{Name: "RSA-PSS", Bits: 2048}) {
		t.Errorf("resumed=%v server signature %+v", info.Resumed, info.ServerSig)
	}
}
