package tlspolicy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/pftest"
)

// cipherStrings are evaluated by EvalCipherString and compared with what
// `openssl ciphers -V` (OpenSSL 3.0) printed for the same string, stored in
// testdata/cipherstrings.golden (go test -run TestCipherStringGolden -update
// regenerates it; that needs the openssl command).
var cipherStrings = []string{
	// Postfix 3.7 grade lists and the strings tlsproxy builds from them.
	"aNULL:-aNULL:HIGH:@STRENGTH",
	"aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
	"aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH",
	"aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
	"eNULL:!aNULL",
	"aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!aNULL",
	"aNULL:-aNULL:HIGH:@STRENGTH:!kRSA:!SHA1",
	"aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!RC4:!MD5:!3DES:!aNULL",
	"aNULL:-aNULL:HIGH:@STRENGTH:!CBC",
	"aNULL:-aNULL:HIGH:@STRENGTH:!AES256",
	"aNULL:-aNULL:HIGH:@STRENGTH:!ECDHE-RSA-AES128-SHA:!AES128-SHA",
	"aNULL:-aNULL:HIGH:@STRENGTH:!HIGH",
	// Postfix 2.11 grade lists.
	"aNULL:-aNULL:ALL:!EXPORT:!LOW:!MEDIUM:+RC4:@STRENGTH",
	"aNULL:-aNULL:ALL:!EXPORT:!LOW:+RC4:@STRENGTH",
	"aNULL:-aNULL:ALL:!EXPORT:+RC4:@STRENGTH",
	"aNULL:-aNULL:ALL:+RC4:@STRENGTH",
	// Keywords and aliases.
	"ALL", "DEFAULT", "COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL", "ALL:COMPLEMENTOFALL",
	"HIGH", "MEDIUM", "LOW", "EXPORT", "eNULL", "NULL", "aNULL", "FIPS",
	"kRSA", "RSA", "aRSA", "kECDHE", "kEECDH", "ECDH", "ECDHE", "EECDH", "AECDH",
	"aECDSA", "ECDSA", "DHE", "EDH", "kDHE", "ADH", "PSK", "SRP",
	"AES", "AES128", "AES256", "AESGCM", "AESCCM", "CHACHA20", "CAMELLIA", "ARIA",
	"3DES", "DES", "RC4", "IDEA", "SEED", "CBC", "AEAD",
	"SHA1", "SHA", "SHA256", "SHA384", "MD5",
	"SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3",
	// Single suites, standard names, case.
	"ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-CHACHA20-POLY1305", "AES128-SHA", "AES256-GCM-SHA384",
	"DES-CBC3-SHA", "RC4-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_AES_128_GCM_SHA256",
	"krsa", "high", "AES128-SHA:AES256-SHA:@STRENGTH",
	// Combinations.
	"ECDHE+AESGCM", "kRSA+AES256", "aRSA+SHA1", "AESGCM+AES128", "AES128+AES256",
	"TLSv1.2+kRSA", "TLSv1+kRSA", "SSLv3+kRSA", "SSLv3+TLSv1.2", "FIPS+CHACHA20", "HIGH+FIPS",
	"ECDHE+aECDSA+SHA256", "RSA+ECDHE", "SHA384+kRSA", "CBC+kRSA", "ALL+kECDHE",
	"AES256-SHA+aECDSA", "aECDSA+AES256-SHA", "kRSA+AES256-SHA", "AES256-SHA+AES128-SHA",
	"FOO+kRSA", "kRSA+FOO",
	// Operators and ordering.
	"kRSA:kECDHE", "kECDHE:kRSA", "kRSA:kECDHE:+kRSA", "kRSA:kECDHE:@STRENGTH",
	"HIGH:-ECDHE:ECDHE", "HIGH:!ECDHE:ECDHE", "HIGH:+AES128", "HIGH:+AESGCM:@STRENGTH",
	"kRSA:-AES256-SHA:AES256-SHA", "kRSA:!AES256-SHA:AES256-SHA", "kRSA:+AES256-SHA",
	"AES:!AES128", "-ALL:kRSA", "!ALL:kRSA", "+kRSA", "ALL:-ALL", "ALL:!ALL:ALL",
	"kECDHE+aRSA:!SHA1:-AESGCM:AESGCM+ECDHE",
	"CHACHA20:AESGCM:CBC", "CBC:AESGCM:CHACHA20:@STRENGTH", "SHA1:SHA256:AESGCM:+AES256",
	"aRSA:DEFAULT", "DEFAULT:!aRSA", "DEFAULT,!ECDSA", "DEFAULTX", "DEFAULT:+kRSA",
	// Separators and syntax.
	"kRSA;aECDSA", "kRSA aECDSA", "kRSA,aECDSA", "::kRSA::", "",
	"HIGH:!x#y", "HIGH:FOO_BAR", "HIGH:_FOO", "HIGH:!", "HIGH:!:", "HIGH:-", "HIGH:+", "HIGH:@",
	"kRSA+", "kRSA++AES", "HIGH:@STRENGTHX", "HIGH:@strength", "HIGH:@SECLEVEL=0",
	"HIGH:@SECLEVEL=5", "HIGH:@SECLEVEL=6", "HIGH:@SECLEVEL=", "HIGH:@SECLEVEL=12",
	"@STRENGTH:HIGH", "@STRENGTH+kRSA:HIGH", "--kRSA", "!-kRSA:HIGH", "HIGH:!kRSA+",
}

const cipherGolden = "testdata/cipherstrings.golden"

// opensslAnswer is one golden record: the Go-known suites OpenSSL printed,
// in order, or why it refused the string.
type opensslAnswer struct {
	suites []string
	err    string // "" or "no cipher match" or "invalid"
}

func (a opensslAnswer) String() string {
	if a.err != "" {
		return "error: " + a.err
	}
	return "suites: " + strings.Join(a.suites, " ")
}

// askOpenSSL runs `openssl ciphers -V s` and keeps the suites Go knows.
func askOpenSSL(t *testing.T, s string) opensslAnswer {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "openssl", "ciphers", "-V", "--", s)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("openssl ciphers %q: %v", s, err)
		}
		if strings.Contains(stderr.String(), "no cipher match") {
			return opensslAnswer{err: "no cipher match"}
		}
		return opensslAnswer{err: "invalid"}
	}
	known := map[uint16]string{}
	for _, c := range opensslSuites {
		known[c.id] = c.name
	}
	var a opensslAnswer
	line := regexp.MustCompile(`^\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)`)
	for _, l := range strings.Split(stdout.String(), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		id, _ := strconv.ParseUint(m[1]+m[2], 16, 16)
		if name, ok := known[uint16(id)]; ok {
			if name != m[3] {
				t.Errorf("suite %#04x: OpenSSL calls it %s, the table %s", id, m[3], name)
			}
			a.suites = append(a.suites, name)
		}
	}
	return a
}

func readCipherGolden(t *testing.T) map[string]opensslAnswer {
	data, err := os.ReadFile(cipherGolden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	out := map[string]opensslAnswer{}
	var cur *string
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "string: "):
			s, err := strconv.Unquote(strings.TrimPrefix(l, "string: "))
			if err != nil {
				t.Fatalf("%s: %q: %v", cipherGolden, l, err)
			}
			cur = &s
		case strings.HasPrefix(l, "error: ") && cur != nil:
			out[*cur] = opensslAnswer{err: strings.TrimPrefix(l, "error: ")}
		case strings.HasPrefix(l, "suites: ") && cur != nil:
			out[*cur] = opensslAnswer{suites: strings.Fields(strings.TrimPrefix(l, "suites: "))}
		}
	}
	return out
}

// TestCipherStringGolden: for every string and every suite both OpenSSL
// 3.0 and Go know, EvalCipherString selects the suite iff OpenSSL does,
// in the same order; strings OpenSSL refuses as malformed are errors.
func TestCipherStringGolden(t *testing.T) {
	if *pftest.Update {
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Fatal("-update needs the openssl command")
		}
		var b strings.Builder
		b.WriteString("# openssl ciphers -V STRING (OpenSSL 3.0), restricted to the suites Go implements.\n")
		b.WriteString("# Generated by: go test ./internal/tlspolicy -run TestCipherStringGolden -update\n")
		for _, s := range cipherStrings {
			fmt.Fprintf(&b, "\nstring: %s\n%s\n", strconv.Quote(s), askOpenSSL(t, s))
		}
		if err := os.MkdirAll(filepath.Dir(cipherGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cipherGolden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden := readCipherGolden(t)
	for _, s := range cipherStrings {
		want, ok := golden[s]
		if !ok {
			t.Errorf("%q: not in %s (run with -update)", s, cipherGolden)
			continue
		}
		ids, err := EvalCipherString(s)
		// OpenSSL's "no cipher match" and a list without Go suites
		// both mean: nothing selected.
		if want.err == "no cipher match" {
			want.err = ""
		}
		var got opensslAnswer
		if err != nil {
			got.err = "invalid"
		}
		for _, id := range ids {
			got.suites = append(got.suites, OpenSSLCipherName(id))
		}
		if got.String() != want.String() {
			t.Errorf("%q:\n got %s (err %v)\nwant %s", s, got, err, want)
		}
	}
}

// TestEvalCipherStringErrors checks the error value.
func TestEvalCipherStringErrors(t *testing.T) {
	tests := []struct {
		s      string
		offset int
	}{
		{"HIGH:_FOO", 5},
		{"HIGH:!", 6},
		{"DEFAULT:@FOO", 9},
		{"kRSA+", 5},
	}
	for _, tt := range tests {
		_, err := EvalCipherString(tt.s)
		var ce *CipherStringError
		if !errors.As(err, &ce) || ce.Offset != tt.offset || ce.String != tt.s {
			t.Errorf("%q: err %#v, want offset %d", tt.s, err, tt.offset)
		}
	}
}

func FuzzEvalCipherString(f *testing.F) {
	for _, s := range cipherStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := EvalCipherString(s)
		if err != nil {
			if ids != nil {
				t.Fatal("suites with an error")
			}
			return
		}
		seen := map[uint16]bool{}
		for _, id := range ids {
			if seen[id] || cipherTable[id].name == "" {
				t.Fatalf("%q: bad or repeated suite %#04x in %v", s, id, ids)
			}
			seen[id] = true
		}
		// Killing everything afterwards always leaves nothing.
		if rest, err := EvalCipherString(s + ":!ALL"); err != nil || len(rest) != 0 {
			t.Fatalf("%q:!ALL: %v %v", s, rest, err)
		}
	})
}

// TestHandshakeCipherPolicy offers each TLS 1.0-1.2 suite Go has, alone,
// with each version: the handshake must succeed exactly for the suites
// Offered predicts.
func TestHandshakeCipherPolicy(t *testing.T) {
	f := newFixture(t)
	policies := []struct {
		name string
		mod  func(s *ServerSettings)
	}{
		{"medium rsa+ecdsa", func(s *ServerSettings) { s.ECCertFile, s.ECKeyFile = f.ecCert, f.ecKey }},
		{"high no kRSA/SHA1", func(s *ServerSettings) { s.Ciphers, s.ExcludeCiphers = "high", "kRSA SHA1" }},
		{"ed25519 aesgcm", func(s *ServerSettings) {
			s.CertFile, s.KeyFile, s.ChainFiles, s.Ciphers, s.HighCipherlist = "", "", f.edChain, "high", "AESGCM"
		}},
	}
	var all []uint16
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if c.SupportedVersions[0] != tls.VersionTLS13 {
			all = append(all, c.ID)
		}
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			s := f.settings()
			p.mod(&s)
			srv := mustServer(t, s)
			for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12} {
				offered := srv.Offered(v)
				for _, id := range all {
					_, _, err := handshake(t, srv, &tls.Config{MinVersion: v, MaxVersion: v, CipherSuites: []uint16{id}})
					if want := slices.Contains(offered, id); (err == nil) != want {
						t.Errorf("%s %s: handshake error %v, offered %v", tls.VersionName(v), tls.CipherSuiteName(id), err, want)
					}
				}
			}
		})
	}
}
