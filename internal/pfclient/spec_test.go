package pfclient

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
)

// Checks of the emulators against byte dumps and byte counts of real
// Postfix clients, captured with strace and kept in testdata/spec.
// Where a capture used harness-specific paths, same-length stand-ins are
// used (/tmp/pf312 for the harness instance directory).

// specNotation decodes the spec's "name\0value\0 …" notation: "\0" is a
// NUL byte; blanks right after "\0" and line breaks are not on the wire.
func specNotation(t *testing.T, file string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "spec", file))
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for i := 0; i < len(line); i++ {
			switch {
			case strings.HasPrefix(line[i:], `\0`):
				b = append(b, 0)
				i++
				for i+1 < len(line) && line[i+1] == ' ' {
					i++
				}
			default:
				b = append(b, line[i])
			}
		}
	}
	return b
}

// specHex decodes a hexdump excerpt into offset → byte.
func specHex(t *testing.T, file string) map[int]byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "spec", file))
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]byte{}
	for _, line := range strings.Split(string(text), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		off, err := strconv.ParseInt(line[:4], 16, 32)
		if err != nil {
			t.Fatalf("bad hexdump line %q", line)
		}
		hexPart, _, _ := strings.Cut(line[6:], "|")
		raw, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexPart), " ", ""))
		if err != nil {
			t.Fatalf("bad hexdump line %q: %v", line, err)
		}
		for i, c := range raw {
			m[int(off)+i] = c
		}
	}
	return m
}

// checkHex compares b with every byte of a dump excerpt.
func checkHex(t *testing.T, b []byte, dump map[int]byte) {
	t.Helper()
	for off, want := range dump {
		if off >= len(b) {
			t.Errorf("offset %#x beyond the %d-byte request", off, len(b))
		} else if b[off] != want {
			t.Errorf("offset %#x: %#02x, spec dump has %#02x", off, b[off], want)
		}
	}
}

func dumpBytes(dump map[int]byte) []byte {
	b := make([]byte, len(dump))
	for off, c := range dump {
		b[off] = c
	}
	return b
}

func mustBytes(t *testing.T, r Request) []byte {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpecServerRoleFirstLists(t *testing.T) {
	g2 := dumpBytes(specHex(t, "2.1-postscreen-g2.hex"))
	if len(g2) != 72 {
		t.Fatalf("G2 dump has %d bytes", len(g2))
	}
	// G1: the same without server_id, 56 bytes ending "timeout\0" "300\0\0".
	g1 := append(bytes.Clone(g2[:bytes.Index(g2, []byte("server_id"))]), 0)
	g4 := "remote_endpoint\x00[192.0.2.10]:51234\x00flags\x001\x00timeout\x00300\x00timeout\x00300\x00serverid\x00smtpd\x00\x00"
	cap61 := "remote_endpoint\x00[127.0.0.1]:38510\x00flags\x001\x00timeout\x00300\x00timeout\x00300\x00serverid\x00smtpd\x00\x00"
	tests := []struct {
		version, endpoint, want string
		size                    int
	}{
		{"2.8.0", "[192.0.2.10]:51234", string(g1), 56},
		{"2.8.6", "[192.0.2.10]:51234", string(g1), 56},
		{"2.9.0", "[192.0.2.10]:51234", string(g2), 72},
		{"2.11.11", "[192.0.2.10]:51234", string(g2), 72},
		{"3.3.22", "[192.0.2.10]:51234", string(g2), 72},
		{"3.4.0", "[192.0.2.10]:51234", g4, 83},
		{"3.5.20", "[192.0.2.10]:51234", g4, 83},
		{"3.7.11", "[192.0.2.10]:51234", g4, 83},   // postscreen 3.7.11
		{"3.7.11", "[127.0.0.1]:38510", cap61, 82}, // §6.1 capture
		{"3.11.6", "[127.0.0.1]:38510", cap61, 82}, // §8.6: byte-for-byte the 3.7 request
		{"3.12-20260416", "[192.0.2.10]:51234", g4, 83},
	}
	for _, tc := range tests {
		r := ServerRole(pfversion.MustParse(tc.version), tc.endpoint)
		b := mustBytes(t, r)
		if string(b) != tc.want || len(b) != tc.size {
			t.Errorf("%s: %d bytes %q, spec has %d bytes %q", tc.version, len(b), b, tc.size, tc.want)
		}
	}
}

// finger37 and finger311 are the captured posttls-finger requests of
// §4.4 and §8.6, rebuilt from the emulator with the capture's values.
func finger37() Request {
	r := Finger(pfversion.MustParse("3.7.11"), "[127.0.0.1]:2526")
	r.Props = map[string]string{"helo": "mx.example.test"}
	return r
}

func finger311(v string) Request {
	r := Finger(pfversion.MustParse(v), "[127.0.0.1]:10726")
	r.Props = map[string]string{"helo": "harness.localdomain", "log_level": "1"}
	return r
}

func TestSpecFinger37(t *testing.T) {
	b := mustBytes(t, finger37())
	first := "remote_endpoint\x00[127.0.0.1]:2526\x00flags\x006\x00timeout\x0030\x00timeout\x0030\x00serverid\x00[127.0.0.1]:2526\x00\x00"
	want := first + string(specNotation(t, "4.4-finger-3.7.11-second.txt"))
	if len(want) != 1249 {
		t.Fatalf("spec transcription has %d bytes, not 1249", len(want))
	}
	if string(b) != want {
		t.Errorf("posttls-finger 3.7.11 request differs from §4.4:\n got %q\nwant %q", b, want)
	}
}

func TestSpecFinger311(t *testing.T) {
	b := mustBytes(t, finger311("3.11.6"))
	first := "remote_endpoint\x00[127.0.0.1]:10726\x00flags\x006\x00timeout\x0030\x00timeout\x0030\x00serverid\x00[127.0.0.1]:10726\x00\x00"
	second := specNotation(t, "8.6-finger-3.11.6-second.txt")
	want := first + string(second)
	if len(want) != 1281 {
		t.Fatalf("spec transcription has %d bytes, not 1281", len(want))
	}
	if string(b) != want {
		t.Errorf("posttls-finger 3.11.6 request differs from §8.6:\n got %q\nwant %q", b, want)
	}
	if l, err := attr.ParseList(second); err != nil || len(l) != 48 {
		t.Errorf("§8.6 second list: %d attributes, %v; spec says 48", len(l), err)
	}
}

// TestSpecFinger312 rebuilds the 3.12 request from the 3.11.6 one as
// §8.7.3 describes it, and checks size and tail dump.
func TestSpecFinger312(t *testing.T) {
	b := mustBytes(t, finger311("3.12-20260821"))
	if len(b) != 1386 {
		t.Errorf("3.12 posttls-finger request has %d bytes, spec says 1386", len(b))
	}
	checkHex(t, b, specHex(t, "8.7.3-finger-3.12-tail.hex"))

	first := "remote_endpoint\x00[127.0.0.1]:10726\x00flags\x006\x00timeout\x0030\x00timeout\x0030\x00serverid\x00posttls-finger\x00\x00"
	l311, err := attr.ParseList(specNotation(t, "8.6-finger-3.11.6-second.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want attr.List
	for _, a := range l311 {
		if a.Name == "timeout" {
			want = append(want, attr.Str("log_param", "-L option"), attr.Str("log_level", "1"))
		}
		want = append(want, a)
		if a.Name == "tls_wildcard_matches_multiple_labels" {
			want = append(want, attr.Int("tls_fast_shutdown_enable", 1))
		}
	}
	want = append(want, attr.Int("trace_size_limit", 2147483647), attr.Str("trace_peer", "127.0.0.1"))
	if len(want) != 53 {
		t.Fatalf("rebuilt second list has %d attributes, spec says 53", len(want))
	}
	if w := first + string(attr.AppendList(nil, want)); string(b) != w {
		t.Errorf("3.12 posttls-finger request:\n got %q\nwant %q", b, w)
	}
}

// postscreen312 is the captured 3.12 postscreen request of §8.7.2.
func postscreen312() Request {
	r := ServerRole(pfversion.MustParse("3.12-20260821"), "[127.0.0.1]:33910")
	r.ServerID = "127.0.0.1:10725"
	r.Props = map[string]string{
		"log_level": "1",
		"cert_file": "/tmp/pf312/tls/cert.pem", // stand-in for <instance>/tls/cert.pem
		"key_file":  "/tmp/pf312/tls/key.pem",
	}
	return r
}

// serverNames312 are the names of the §8.7.2 tables, in order.
var serverNames312 = strings.Fields(`
	config_file config_name tls_high_cipherlist tls_medium_cipherlist tls_null_cipherlist
	tls_eecdh_auto_curves tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_ffdhe_auto_groups
	tls_disable_workarounds tls_ssl_options tlsmgr_service_name tls_session_ticket_cipher
	tls_daemon_random_bytes tls_append_default_CA tls_preempt_cipherlist
	tls_wildcard_matches_multiple_labels tls_server_sni_maps tls_fast_shutdown_enable
	tls_trust_server_ccerts
	log_param log_level verifydepth cache_type set_sessid chain_files cert_file key_file
	dcert_file dkey_file eccert_file eckey_file CAfile CApath protocols eecdh_grade
	dh1024_param_file dh512_param_file ask_ccert mdalg
	log_param log_level timeout enable_rpk requirecert serverid namaddr cipher_grade
	cipher_exclusions mdalg trace_size_limit trace_peer`)

func TestSpecPostscreen312(t *testing.T) {
	r := postscreen312()
	b := mustBytes(t, r)
	if len(b) != 1438 {
		t.Errorf("3.12 postscreen request has %d bytes, spec says 1438", len(b))
	}
	checkHex(t, b, specHex(t, "8.7.2-postscreen-3.12.hex"))
	if n := len(attr.AppendList(nil, r.First())); n != 92 {
		t.Errorf("first list has %d bytes, spec says 92", n)
	}
	second, ok, err := r.Second()
	if err != nil || !ok {
		t.Fatalf("no second list: %v", err)
	}
	if got := second.Names(); !reflect.DeepEqual(got, serverNames312) {
		t.Errorf("second list names:\n got %q\nwant %q", got, serverNames312)
	}
}

// TestSpecSMTPDTest312 checks the smtpd test-mode probe (§8.7.5, exact
// dump) and the real request (1429 bytes; smtpd's service name in the
// harness is not stated, a 15-character stand-in is used, so this size
// check is an inference).
func TestSpecSMTPDTest312(t *testing.T) {
	v := pfversion.MustParse("3.12-20260821")
	probe := mustBytes(t, Probe(v, "[127.0.0.1]:41220"))
	if want := dumpBytes(specHex(t, "8.7.5-probe-3.12.hex")); !bytes.Equal(probe, want) || len(want) != 86 {
		t.Errorf("probe:\n got %q\nwant %q", probe, want)
	}
	r := SMTPDTest(v, "[127.0.0.1]:41220", "")
	r.ServerID = "127.0.0.1:10727"
	r.Props = map[string]string{"log_level": "1",
		"cert_file": "/tmp/pf312/tls/cert.pem", "key_file": "/tmp/pf312/tls/key.pem"}
	b := mustBytes(t, r)
	if len(b) != 1429 {
		t.Errorf("smtpd test-mode request has %d bytes, spec says 1429", len(b))
	}
	second, _, _ := r.Second()
	if v, _ := second.Get("log_param"); v != "smtpd_tls_loglevel" {
		t.Errorf("log_param %q", v)
	}
	if v := second.All("namaddr"); len(v) != 1 || v[0] != "unknown[127.0.0.1]" {
		t.Errorf("namaddr %q", v)
	}
}

// TestSpecClientParams38 checks the 3.8.1 – 3.10 TLS_CLIENT_PARAMS order
// spelled out in §8.3.
func TestSpecClientParams38(t *testing.T) {
	want := strings.Fields(`config_file config_name tls_high_cipherlist tls_medium_cipherlist
		tls_null_cipherlist tls_eecdh_auto_curves tls_eecdh_strong_curve tls_eecdh_ultra_curve
		tls_ffdhe_auto_groups tls_disable_workarounds tls_ssl_options tls_dane_digests
		tlsmgr_service_name tls_session_ticket_cipher tls_daemon_random_bytes
		tls_append_default_CA tls_legacy_public_key_fingerprints tls_preempt_cipherlist
		tls_wildcard_matches_multiple_labels`)
	for _, v := range []string{"3.8.1", "3.8.20", "3.9.14", "3.10.13", "3.12-20251222"} {
		if got := clientParamNames(pfversion.MustParse(v)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q", v, got)
		}
	}
}
