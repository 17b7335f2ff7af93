package tlspolicy

import (
	"crypto/tls"
	"strings"
	"testing"

	"tlsproxy/internal/pfversion"
)

// TestSummaryByRelease: the summary line and the key-exchange attributes
// as each installed release writes them (Postfix's tls_server.c before
// 3.4, tls_misc.c's tls_log_summary from 3.4, OpenSSL's group names from
// 3.10).
func TestSummaryByRelease(t *testing.T) {
	t.Cleanup(func() { tlsLog.Store(nil) })
	f := newFixture(t)
	ecOnly := f.settings()
	ecOnly.CertFile, ecOnly.KeyFile, ecOnly.ECCertFile, ecOnly.ECKeyFile = "", "", f.ecCert, f.ecKey
	const sig = " server-signature ECDSA (prime256v1) server-digest SHA256"
	for _, tc := range []struct {
		release string // "" = unknown
		curve   tls.CurveID
		maxVer  uint16
		tail    string // after "(N/M bits)"
		kex     [2]string
	}{
		{"2.8.0", tls.X25519, tls.VersionTLS13, "", [2]string{"X25519", ""}},
		{"2.11.11", tls.CurveP256, tls.VersionTLS13, "", [2]string{"ECDHE", "prime256v1"}},
		{"3.3.22", tls.X25519, tls.VersionTLS13, "", [2]string{"X25519", ""}},
		{"3.4.0", tls.X25519, tls.VersionTLS13, " key-exchange X25519" + sig, [2]string{"X25519", ""}},
		{"3.7.11", tls.CurveP256, tls.VersionTLS13, " key-exchange ECDHE (prime256v1)" + sig, [2]string{"ECDHE", "prime256v1"}},
		{"", tls.X25519, tls.VersionTLS13, " key-exchange X25519" + sig, [2]string{"X25519", ""}},
		{"3.9.14", tls.CurveP384, tls.VersionTLS13, " key-exchange ECDHE (secp384r1)" + sig, [2]string{"ECDHE", "secp384r1"}},
		{"3.10.13", tls.X25519, tls.VersionTLS13, " key-exchange x25519" + sig, [2]string{"x25519", ""}},
		{"3.10.13", tls.CurveP256, tls.VersionTLS13, " key-exchange secp256r1" + sig, [2]string{"secp256r1", ""}},
		{"3.11.6", tls.X25519MLKEM768, tls.VersionTLS13, " key-exchange X25519MLKEM768" + sig, [2]string{"X25519MLKEM768", ""}},
		{"3.12-20260821", tls.CurveP521, tls.VersionTLS13, " key-exchange secp521r1" + sig, [2]string{"secp521r1", ""}},
		{"3.10.13", tls.X25519, tls.VersionTLS12, "", [2]string{"", ""}},
		{"2.8.0", tls.X25519, tls.VersionTLS12, "", [2]string{"", ""}},
	} {
		name := tc.release + "/" + tc.curve.String() + "/" + protocolName(tc.maxVer)
		t.Run(name, func(t *testing.T) {
			var v pfversion.Version
			if tc.release != "" {
				v = pfversion.MustParse(tc.release)
			}
			SetRelease(v)
			srv := mustServer(t, ecOnly)
			res, _, err := handshake(t, srv, &tls.Config{MaxVersion: tc.maxVer, CurvePreferences: []tls.CurveID{tc.curve}})
			if err != nil || res.err != nil {
				t.Fatalf("handshake: client %v, server %v", err, res.err)
			}
			info := ServerInfo(res.state, srv, res.served)
			line := info.Summary("from", "[127.0.0.1]:1025")
			head := "Anonymous TLS connection established from [127.0.0.1]:1025: " + protocolName(tc.maxVer) +
				" with cipher " + info.CipherName + " ("
			_, tail, _ := strings.Cut(line, " bits)")
			if !strings.HasPrefix(line, head) || tail != tc.tail {
				t.Errorf("summary %q\nwant tail %q", line, tc.tail)
			}
			got := map[string]string{}
			for _, nv := range info.Context("[127.0.0.1]:1025") {
				got[nv.Name] = nv.Value
			}
			if got["key_exchange"] != tc.kex[0] || got["key_exchange_curve"] != tc.kex[1] {
				t.Errorf("context key_exchange=%q key_exchange_curve=%q, want %q", got["key_exchange"], got["key_exchange_curve"], tc.kex)
			}
		})
	}
}

// TestResumedByRelease: a resumed TLS 1.3 session reports the signature
// names without digests up to the fix (3.7.12 here), nothing after it.
func TestResumedByRelease(t *testing.T) {
	t.Cleanup(func() { tlsLog.Store(nil) })
	f := newFixture(t)
	ecOnly := f.settings()
	ecOnly.CertFile, ecOnly.KeyFile, ecOnly.ECCertFile, ecOnly.ECKeyFile = "", "", f.ecCert, f.ecKey
	srv := mustServer(t, ecOnly)
	cs := tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, CurveID: tls.X25519, DidResume: true}
	for _, tc := range []struct{ release, tail string }{
		{"3.4.0", " key-exchange X25519 server-signature ECDSA (prime256v1)"},
		{"3.7.11", " key-exchange X25519 server-signature ECDSA (prime256v1)"},
		{"3.7.13", " key-exchange X25519"},
		{"3.9.1", " key-exchange X25519 server-signature ECDSA (prime256v1)"},
		{"3.10.13", " key-exchange x25519"},
		{"3.3.22", ""},
	} {
		SetRelease(pfversion.MustParse(tc.release))
		line := ServerInfoWith(cs, srv, nil, nil).Summary("from", "[127.0.0.1]:1025")
		if _, tail, _ := strings.Cut(line, " bits)"); tail != tc.tail {
			t.Errorf("%s: %q\nwant tail %q", tc.release, line, tc.tail)
		}
	}
}

// TestPeerCertLineByRelease: the peer certificate line of each wording,
// in both roles, and when the server role logs it.
func TestPeerCertLineByRelease(t *testing.T) {
	base := Info{PeerCN: "client.example", IssuerCN: "Example CA", PeerFingerprint: "AA:BB",
		PeerPubkeyFingerprint: "CC:DD", PeerStatus: PeerPresent | PeerTrusted}
	for _, tc := range []struct {
		release        string
		server, client string
		level1, level2 bool // logged at tlsproxy_tls_loglevel 1, 2
	}{
		{"2.8.0", "[127.0.0.1]:1025: Trusted: subject_CN=client.example, issuer=Example CA, fingerprint=AA:BB", "", true, true},
		{"3.7.11", "[127.0.0.1]:1025: subject_CN=client.example, issuer=Example CA, fingerprint=AA:BB, pkey_fingerprint=CC:DD",
			"Mx.Example[192.0.2.1]:25: subject_CN=client.example, issuer_CN=Example CA, fingerprint=AA:BB, pkey_fingerprint=CC:DD", false, true},
		{"3.10.13", "[127.0.0.1]:1025: subject_CN=client.example, issuer=Example CA, cert fingerprint=AA:BB, pkey fingerprint=CC:DD",
			"mx.example[192.0.2.1]:25: subject_CN=client.example, issuer=Example CA, cert fingerprint=AA:BB, pkey fingerprint=CC:DD", false, true},
	} {
		i := base
		i.peerCert = pfversion.MustParse(tc.release).TLSLog().PeerCert
		if got := i.PeerCertLine("[127.0.0.1]:1025"); got != tc.server {
			t.Errorf("%s server: %q\nwant %q", tc.release, got, tc.server)
		}
		if tc.client != "" {
			if got := i.ClientPeerCertLine("Mx.Example[192.0.2.1]:25"); got != tc.client {
				t.Errorf("%s client: %q\nwant %q", tc.release, got, tc.client)
			}
		}
		for _, l := range []struct {
			level string
			want  bool
		}{{"1", tc.level1}, {"2", tc.level2}, {"0", false}} {
			mask, err := ParseLogLevel(l.level)
			if err != nil {
				t.Fatal(err)
			}
			if got := i.PeerCertWanted(mask); got != l.want {
				t.Errorf("%s at level %s: logged %v, want %v", tc.release, l.level, got, l.want)
			}
		}
	}
}
