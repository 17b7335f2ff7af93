package tlspolicy

import (
	"crypto/tls"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Session data of sessions captured from Debian 12's tlsproxy 3.7.11: their
// log lines and TLS context replies.
var (
	capturedTLS13 = Info{
		Protocol: "TLSv1.3", CipherName: "TLS_AES_256_GCM_SHA384", CipherUseBits: 256, CipherAlgBits: 256,
		KexName:   "X25519",
		ServerSig: Signature{Name: "RSA-PSS", Bits: 2048, Digest: "SHA256"},
	}
	capturedTLS12 = Info{
		Protocol: "TLSv1.2", CipherName: "ECDHE-RSA-AES256-GCM-SHA384", CipherUseBits: 256, CipherAlgBits: 256,
	}
	capturedClientCert = Info{
		Protocol: "TLSv1.3", CipherName: "TLS_AES_256_GCM_SHA384", CipherUseBits: 256, CipherAlgBits: 256,
		PeerCN: "client.example.test", IssuerCN: "client.example.test",
		PeerFingerprint:       "06:13:03:F7:EE:92:6F:F6:85:B9:F0:88:C3:37:D8:66:66:78:5E:DC:17:92:3B:F4:86:ED:E7:C2:62:70:7F:78",
		PeerPubkeyFingerprint: "A7:B8:5B:3C:50:C0:18:91:7D:CB:F8:74:FF:9C:9B:44:59:3D:28:52:CD:0E:5B:9F:69:3C:2C:56:56:4D:9B:38",
		PeerStatus:            PeerPresent | PeerTrusted,
		KexName:               "X25519",
		ClientSig:             Signature{Name: "RSA-PSS", Bits: 2048, Digest: "SHA256"},
		ServerSig:             Signature{Name: "RSA-PSS", Bits: 2048, Digest: "SHA256"},
	}
)

func TestSummary(t *testing.T) {
	tests := []struct {
		info      Info
		direction string
		namaddr   string
		want      string
	}{
		{capturedTLS13, "from", "[127.0.0.1]:38510",
			"Anonymous TLS connection established from [127.0.0.1]:38510: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"},
		{capturedTLS12, "from", "[127.0.0.1]:51612",
			"Anonymous TLS connection established from [127.0.0.1]:51612: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"},
		{capturedClientCert, "from", "[127.0.0.1]:48660",
			"Trusted TLS connection established from [127.0.0.1]:48660: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256 client-signature RSA-PSS (2048 bits) client-digest SHA256"},
		// Observed with Debian's tlsproxy 3.7.11 (openssl s_client, EC/Ed25519 chain files).
		{Info{Protocol: "TLSv1.3", CipherName: "TLS_AES_256_GCM_SHA384", CipherUseBits: 256, CipherAlgBits: 256,
			KexName: "ECDHE", KexCurve: "prime256v1", ServerSig: Signature{Name: "ECDSA", Curve: "secp384r1", Digest: "SHA384"}},
			"from", "[127.0.0.1]:48048",
			"Anonymous TLS connection established from [127.0.0.1]:48048: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange ECDHE (prime256v1) server-signature ECDSA (secp384r1) server-digest SHA384"},
		{Info{Protocol: "TLSv1.3", CipherName: "TLS_AES_256_GCM_SHA384", CipherUseBits: 256, CipherAlgBits: 256,
			KexName: "X25519", ServerSig: Signature{Name: "ED25519"}},
			"from", "[127.0.0.1]:48044",
			"Anonymous TLS connection established from [127.0.0.1]:48044: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ED25519"},
		{Info{Protocol: "TLSv1.1", CipherName: "ECDHE-RSA-AES256-SHA", CipherUseBits: 256, CipherAlgBits: 256, PeerStatus: PeerPresent},
			"to", "Mx.Example[192.0.2.1]:25",
			"Untrusted TLS connection established to mx.example[192.0.2.1]:25: TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)"},
		{Info{Protocol: "TLSv1.3", CipherName: "TLS_AES_128_GCM_SHA256", CipherUseBits: 128, CipherAlgBits: 128,
			PeerStatus: PeerPresent | PeerTrusted | PeerMatched | PeerSecured, KexName: "DHE", KexBits: 2048},
			"to", "h[192.0.2.1]:25",
			"Verified TLS connection established to h[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange DHE (2048 bits)"},
	}
	for _, tt := range tests {
		if got := tt.info.Summary(tt.direction, tt.namaddr); got != tt.want {
			t.Errorf("Summary:\n got %q\nwant %q", got, tt.want)
		}
	}
}

func TestContextCaptured(t *testing.T) {
	// The captured 3.7.11 reply, in wire order.
	want := []string{
		"peer_CN", "client.example.test",
		"issuer_CN", "client.example.test",
		"peer_fingerprint", capturedClientCert.PeerFingerprint,
		"peer_pubkey_fingerprint", capturedClientCert.PeerPubkeyFingerprint,
		"level", "0",
		"peer_status", "5",
		"cipher_protocol", "TLSv1.3",
		"cipher_name", "TLS_AES_256_GCM_SHA384",
		"cipher_usebits", "256",
		"cipher_algbits", "256",
		"key_exchange", "X25519",
		"key_exchange_curve", "",
		"key_exchange_bits", "0",
		"clnt_signature", "RSA-PSS",
		"clnt_signature_curve", "",
		"clnt_signature_bits", "2048",
		"clnt_signature_digest", "SHA256",
		"srvr_signature", "RSA-PSS",
		"srvr_signature_curve", "",
		"srvr_signature_bits", "2048",
		"srvr_signature_digest", "SHA256",
		"namaddr", "[127.0.0.1]:48660",
	}
	got := capturedClientCert.Context("[127.0.0.1]:48660")
	if len(got) != 22 {
		t.Fatalf("%d attributes, want 22", len(got))
	}
	size := 1 // attr0 encoding, as a cross-check against the captured 695 bytes
	for i, nv := range got {
		if nv.Name != want[2*i] || nv.Value != want[2*i+1] {
			t.Errorf("attribute %d = %s=%q, want %s=%q", i+1, nv.Name, nv.Value, want[2*i], want[2*i+1])
		}
		size += len(nv.Name) + len(nv.Value) + 2
	}
	if size != 695 {
		t.Errorf("attr0 size %d, want 695", size)
	}
	wantLine := "[127.0.0.1]:48660: subject_CN=client.example.test, issuer=client.example.test, fingerprint=" +
		capturedClientCert.PeerFingerprint + ", pkey_fingerprint=" + capturedClientCert.PeerPubkeyFingerprint
	if got := capturedClientCert.PeerCertLine("[127.0.0.1]:48660"); got != wantLine {
		t.Errorf("PeerCertLine = %q", got)
	}
}

func TestFingerprint(t *testing.T) {
	tests := []struct{ digest, want string }{
		{"md5", "90:01:50:98:3C:D2:4F:B0:D6:96:3F:7D:28:E1:7F:72"},
		{"SHA1", "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"},
		{"sha256", "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"},
		{"sha3-256", ""},
	}
	for _, tt := range tests {
		if got := Fingerprint(tt.digest, []byte("abc")); got != tt.want {
			t.Errorf("Fingerprint(%s) = %q, want %q", tt.digest, got, tt.want)
		}
	}
	for _, d := range []string{"sha224", "sha384", "sha512"} {
		if Fingerprint(d, nil) == "" {
			t.Errorf("digest %s unsupported", d)
		}
	}
}

// TestOpenSSLCipherNames checks the table against every suite Go offers and,
// when the openssl command is available, against OpenSSL's own names.
func TestOpenSSLCipherNames(t *testing.T) {
	suites := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, s := range suites {
		if _, ok := cipherTable[s.ID]; !ok {
			t.Errorf("no OpenSSL name for %s", s.Name)
		}
	}
	out, err := exec.Command("openssl", "ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
	if err != nil {
		t.Skipf("openssl not usable: %v", err)
	}
	openssl := map[uint16]string{} // "0xC0,0x2C - IANA - OPENSSL ..." lines
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || len(f[0]) != 9 {
			continue
		}
		hi, err1 := strconv.ParseUint(f[0][2:4], 16, 8)
		lo, err2 := strconv.ParseUint(f[0][7:9], 16, 8)
		if err1 == nil && err2 == nil {
			openssl[uint16(hi<<8|lo)] = f[4]
		}
	}
	matched := 0
	for id, c := range cipherTable {
		if name, ok := openssl[id]; ok {
			matched++
			if name != c.name {
				t.Errorf("%#04x: table %q, openssl %q", id, c.name, name)
			}
		}
	}
	if matched < 15 {
		t.Errorf("only %d suites compared with openssl output", matched)
	}
}

func TestInferredDetails(t *testing.T) {
	for _, tt := range []struct {
		id          tls.CurveID
		name, curve string
	}{
		{tls.X25519, "X25519", ""},
		{tls.CurveP256, "ECDHE", "prime256v1"},
		{tls.CurveP384, "ECDHE", "secp384r1"},
		{tls.CurveP521, "ECDHE", "secp521r1"},
		{0, "", ""},
	} {
		if n, c := kexName(tt.id, false); n != tt.name || c != tt.curve {
			t.Errorf("kexName(%v) = %q, %q", tt.id, n, c)
		}
	}
}
