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
