package conf

import (
	"strings"
	"testing"
	"time"

	"tlsproxy/internal/logs"
)

func TestStr(t *testing.T) {
	tests := []struct {
		name    string
		set     []string // name, value pairs
		param   string
		want    string
		wantErr string
	}{
		{name: "default", param: "queue_directory", want: "/var/spool/postfix"},
		{name: "explicit", set: []string{"queue_directory", "/q"}, param: "queue_directory", want: "/q"},
		{name: "unknown unset", param: "no_such_parameter", want: ""},
		{name: "unknown set", set: []string{"my_own", "$mail_name"}, param: "my_own", want: "Postfix"},
		{name: "syslog_name default", param: "syslog_name", want: "postfix"},
		{name: "syslog_name multi instance", set: []string{"multi_instance_name", "postfix-out"}, param: "syslog_name", want: "postfix-out"},
		{name: "fingerprint md5 below 3.6", param: "tlsproxy_tls_fingerprint_digest", want: "md5"},
		{name: "fingerprint sha256 at 3.6", set: []string{"compatibility_level", "3.6"}, param: "tlsproxy_tls_fingerprint_digest", want: "sha256"},
		{name: "client fingerprint at 3.7", set: []string{"compatibility_level", "3.7"}, param: "tlsproxy_client_fingerprint_digest", want: "sha256"},
		{name: "client fingerprint at 2", set: []string{"compatibility_level", "2"}, param: "tlsproxy_client_fingerprint_digest", want: "md5"},
		{name: "bad compatibility level", set: []string{"compatibility_level", "x"}, param: "smtpd_tls_fingerprint_digest", wantErr: "macro processing error"},
		{name: "non-empty violated", set: []string{"tlsproxy_tls_ciphers", ""}, param: "tlsproxy_tls_ciphers", wantErr: "bad string length 0 < 1: tlsproxy_tls_ciphers = "},
		{name: "non-empty inherited", set: []string{"smtpd_tls_ciphers", "$empty"}, param: "tlsproxy_tls_ciphers", wantErr: "bad string length 0 < 1: tlsproxy_tls_ciphers = "},
		{name: "empty allowed", set: []string{"tlsproxy_tls_CAfile", ""}, param: "tlsproxy_tls_CAfile", want: ""},
		{name: "expansion error", set: []string{"tlsproxy_tls_CAfile", "${oops"}, param: "tlsproxy_tls_CAfile", wantErr: "dictionary mail_dict: macro processing error"},
		// Postfix 3.7's default is ${old_name:...}, so setting the 3.4-3.6 name
		// empties the new one (verified with postconf -x of 3.7.11).
		{name: "client level via old name", set: []string{"tlsproxy_client_level", "encrypt", "smtp_tls_security_level", "may"}, param: "tlsproxy_client_security_level", want: ""},
		{name: "client level from smtp", set: []string{"smtp_tls_security_level", "may"}, param: "tlsproxy_client_security_level", want: "may"},
		{name: "client policy via old name", set: []string{"tlsproxy_client_policy", "hash:/p"}, param: "tlsproxy_client_policy_maps", want: ""},
		{name: "client policy from smtp", set: []string{"smtp_tls_policy_maps", "hash:/s"}, param: "tlsproxy_client_policy_maps", want: "hash:/s"},
		{name: "loglevel parameter literal", param: "tlsproxy_client_loglevel_parameter", want: "smtp_tls_loglevel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestConfig(t, nil, tc.set...)
			got, err := c.Str(tc.param)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && got != tc.want {
				t.Errorf("Str(%s) = %q, want %q", tc.param, got, tc.want)
			}
		})
	}
}

// TestInheritance covers the tlsproxy_* -> smtpd_* / smtp_* default chains.
func TestInheritance(t *testing.T) {
	tests := []struct {
		name  string
		main  string
		opts  []string
		param string
		want  string
	}{
		{name: "cert follows smtpd", main: "smtpd_tls_cert_file = /c.pem", param: "tlsproxy_tls_cert_file", want: "/c.pem"},
		{name: "key follows smtpd cert via smtpd key", main: "smtpd_tls_cert_file = /c.pem", param: "tlsproxy_tls_key_file", want: "/c.pem"},
		{name: "key follows smtpd key", main: "smtpd_tls_cert_file = /c.pem\nsmtpd_tls_key_file = /k.pem", param: "tlsproxy_tls_key_file", want: "/k.pem"},
		{name: "own setting beats inheritance", main: "smtpd_tls_cert_file = /c.pem\ntlsproxy_tls_cert_file = /t.pem", param: "tlsproxy_tls_cert_file", want: "/t.pem"},
		{name: "key follows smtpd, not tlsproxy cert", main: "smtpd_tls_cert_file = /c.pem\ntlsproxy_tls_cert_file = /t.pem", param: "tlsproxy_tls_key_file", want: "/c.pem"},
		{name: "-o beats main.cf", main: "tlsproxy_tls_cert_file = /t.pem", opts: []string{"tlsproxy_tls_cert_file=/o.pem"}, param: "tlsproxy_tls_cert_file", want: "/o.pem"},
		{name: "-o on the smtpd source", main: "smtpd_tls_cert_file = /c.pem", opts: []string{"smtpd_tls_cert_file=/o.pem"}, param: "tlsproxy_tls_key_file", want: "/o.pem"},
		{name: "dkey follows dcert", main: "smtpd_tls_dcert_file = /d.pem", param: "tlsproxy_tls_dkey_file", want: "/d.pem"},
		{name: "eckey follows eccert", main: "smtpd_tls_eccert_file = /e.pem", param: "tlsproxy_tls_eckey_file", want: "/e.pem"},
		{name: "client key follows smtp cert", main: "smtp_tls_cert_file = /s.pem", param: "tlsproxy_client_key_file", want: "/s.pem"},
		{name: "client CApath", main: "smtp_tls_CApath = /etc/ssl/certs", param: "tlsproxy_client_CApath", want: "/etc/ssl/certs"},
		{name: "protocols", param: "tlsproxy_tls_protocols", want: ">=TLSv1"},
		{name: "security level", main: "smtpd_tls_security_level = may", param: "tlsproxy_tls_security_level", want: "may"},
		{name: "eecdh grade", param: "tlsproxy_tls_eecdh_grade", want: "auto"},
		{name: "loglevel", main: "smtpd_tls_loglevel = 2", param: "tlsproxy_tls_loglevel", want: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("main.cf", strings.NewReader(tc.main), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.opts {
				if err := c.SetOption(o); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.Str(tc.param)
			if err != nil || got != tc.want {
				t.Errorf("Str(%s) = %q, %v; want %q", tc.param, got, err, tc.want)
			}
		})
	}
}

// getCase is one call of a typed getter: the settings (name, value
// pairs), the parameter, and the value or a part of the error wanted.
type getCase[T comparable] struct {
	set     []string
	param   string
	want    T
	wantErr string
}

// checkGets runs each case through get (Config.Bool, Int or Time) on a
// fresh configuration.
func checkGets[T comparable](t *testing.T, what string, get func(*Config, string) (T, error), tests []getCase[T]) {
	t.Helper()
	for _, tc := range tests {
		c := newTestConfig(t, nil, tc.set...)
		got, err := get(c, tc.param)
		checkErr(t, err, tc.wantErr)
		if tc.wantErr == "" && got != tc.want {
			t.Errorf("%s(%s) with %q = %v, want %v", what, tc.param, tc.set, got, tc.want)
		}
	}
}

func TestBool(t *testing.T) {
	checkGets(t, "Bool", (*Config).Bool, []getCase[bool]{
		{param: "tlsproxy_tls_always_issue_session_ids", want: true},
		{param: "tlsproxy_use_tls", want: false},
		{set: []string{"smtpd_use_tls", "yes"}, param: "tlsproxy_use_tls", want: true},
		{set: []string{"smtpd_tls_ask_ccert", "YES"}, param: "tlsproxy_tls_ask_ccert", want: true},
		{set: []string{"tlsproxy_tls_req_ccert", "No"}, param: "tlsproxy_tls_req_ccert", want: false},
		{set: []string{"tlsproxy_enforce_tls", "true"}, param: "tlsproxy_enforce_tls", wantErr: "bad boolean configuration: tlsproxy_enforce_tls = true"},
		{set: []string{"smtp_use_tls", "1"}, param: "tlsproxy_client_use_tls", wantErr: "bad boolean configuration: tlsproxy_client_use_tls = 1"},
		{set: []string{"tls_preempt_cipherlist", " yes"}, param: "tls_preempt_cipherlist", wantErr: "bad boolean configuration"},
		{param: "unknown_bool", wantErr: "bad boolean configuration: unknown_bool = "},
	})
}

func TestInt(t *testing.T) {
	checkGets(t, "Int", (*Config).Int, []getCase[int]{
		{param: "tlsproxy_tls_ccert_verifydepth", want: 9},
		{param: "tlsproxy_client_scert_verifydepth", want: 9},
		{set: []string{"smtpd_tls_ccert_verifydepth", "5"}, param: "tlsproxy_tls_ccert_verifydepth", want: 5},
		{set: []string{"max_use", " +42"}, param: "max_use", want: 42},
		{set: []string{"tls_daemon_random_bytes", "-1"}, param: "tls_daemon_random_bytes", wantErr: "invalid tls_daemon_random_bytes parameter value -1 < 1"},
		{set: []string{"max_use", "0"}, param: "max_use", wantErr: "invalid max_use parameter value 0 < 1"},
		{set: []string{"max_use", "10x"}, param: "max_use", wantErr: "bad numerical configuration: max_use = 10x"},
		{set: []string{"max_use", "10 "}, param: "max_use", wantErr: "bad numerical configuration"},
		{set: []string{"max_use", ""}, param: "max_use", wantErr: "bad numerical configuration: max_use = "},
		{set: []string{"max_use", "-"}, param: "max_use", wantErr: "bad numerical configuration"},
		{set: []string{"max_use", "2147483647"}, param: "max_use", want: 2147483647},
		{set: []string{"max_use", "2147483648"}, param: "max_use", wantErr: "bad numerical configuration"},
		{set: []string{"max_use", "99999999999999999999999"}, param: "max_use", wantErr: "bad numerical configuration"},
		{set: []string{"smtpd_tls_ccert_verifydepth", "-3"}, param: "smtpd_tls_ccert_verifydepth", want: -3}, // min 0 = unchecked
	})
}

func TestTime(t *testing.T) {
	checkGets(t, "Time", (*Config).Time, []getCase[time.Duration]{
		{param: "tlsproxy_watchdog_timeout", want: 10 * time.Second},
		{param: "max_idle", want: 100 * time.Second},
		{param: "ipc_timeout", want: time.Hour},
		{set: []string{"tlsproxy_watchdog_timeout", "30"}, param: "tlsproxy_watchdog_timeout", want: 30 * time.Second},
		{set: []string{"tlsproxy_watchdog_timeout", "2m"}, param: "tlsproxy_watchdog_timeout", want: 2 * time.Minute},
		{set: []string{"max_idle", "1h"}, param: "max_idle", want: time.Hour},
		{set: []string{"max_idle", "1d"}, param: "max_idle", want: 24 * time.Hour},
		{set: []string{"max_idle", "2w"}, param: "max_idle", want: 14 * 24 * time.Hour},
		{set: []string{"max_idle", "${stress?{10}:{300}}s"}, param: "max_idle", want: 300 * time.Second},
		{set: []string{"tlsproxy_watchdog_timeout", "5"}, param: "tlsproxy_watchdog_timeout", wantErr: "invalid tlsproxy_watchdog_timeout: 5 (min 10)"},
		{set: []string{"tlsproxy_watchdog_timeout", "5s"}, param: "tlsproxy_watchdog_timeout", wantErr: "invalid tlsproxy_watchdog_timeout: 5 (min 10)"},
		{set: []string{"tlsproxy_watchdog_timeout", "10x"}, param: "tlsproxy_watchdog_timeout", wantErr: "parameter tlsproxy_watchdog_timeout: bad time value or unit: 10x"},
		{set: []string{"tlsproxy_watchdog_timeout", "10ss"}, param: "tlsproxy_watchdog_timeout", wantErr: "bad time value or unit: 10ss"},
		{set: []string{"tlsproxy_watchdog_timeout", "-10"}, param: "tlsproxy_watchdog_timeout", wantErr: "bad time value or unit: -10"},
		{set: []string{"tlsproxy_watchdog_timeout", ""}, param: "tlsproxy_watchdog_timeout", wantErr: "bad time value or unit: "},
		{set: []string{"max_idle", "4000w"}, param: "max_idle", wantErr: "bad time value or unit: 4000w"},
		{set: []string{"smtpd_tls_session_cache_timeout", "101d"}, param: "smtpd_tls_session_cache_timeout", wantErr: "invalid smtpd_tls_session_cache_timeout: 8726400 (max 8640000)"},
		{set: []string{"smtpd_tls_session_cache_timeout", "0"}, param: "smtpd_tls_session_cache_timeout", want: 0},
	})
}

func TestConvTime(t *testing.T) {
	tests := []struct {
		in   string
		def  byte
		want int
		ok   bool
	}{
		{"10", 's', 10, true},
		{"10", 'm', 600, true},
		{"10s", 'm', 10, true},
		{"s", 's', 0, true}, // strtol without digits: 0 with the unit
		{" 5", 's', 5, true},
		{"5 ", 's', 0, false},
		{"5y", 's', 0, false},
		{"", 's', 0, false},
		{"3549w", 's', 3549 * 604800, true},
		{"3550w", 's', 0, false},
	}
	for _, tc := range tests {
		got, ok := convTime(tc.in, tc.def)
		if got != tc.want || ok != tc.ok {
			t.Errorf("convTime(%q, %c) = %d, %v; want %d, %v", tc.in, tc.def, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRuntimeDefaults(t *testing.T) {
	tests := []struct {
		host     string
		set      []string
		wantHost string
		wantDom  string
	}{
		{host: "mx.example.com", wantHost: "mx.example.com", wantDom: "example.com"},
		{host: "mx.example", wantHost: "mx.example", wantDom: "localdomain"},
		{host: "vm", wantHost: "vm.localdomain", wantDom: "localdomain"},
		{host: "vm", set: []string{"mydomain", "corp.test"}, wantHost: "vm.corp.test", wantDom: "corp.test"},
		{host: "vm", set: []string{"mydomain", "$d", "d", "x.test"}, wantHost: "vm.x.test", wantDom: "x.test"},
		{host: "a.b.c", set: []string{"myhostname", "mail.$mydomain"}, wantHost: "mail.localdomain", wantDom: "localdomain"},
		{host: "a.b.c", set: []string{"myhostname", "mail.sub.example.net"}, wantHost: "mail.sub.example.net", wantDom: "sub.example.net"},
	}
	for _, tc := range tests {
		c := newTestConfig(t, nil, tc.set...)
		c.hostname = tc.host
		h, err := c.Str("myhostname")
		if err != nil || h != tc.wantHost {
			t.Errorf("host %q %q: myhostname = %q, %v; want %q", tc.host, tc.set, h, err, tc.wantHost)
		}
		d, err := c.Str("mydomain")
		if err != nil || d != tc.wantDom {
			t.Errorf("host %q %q: mydomain = %q, %v; want %q", tc.host, tc.set, d, err, tc.wantDom)
		}
	}
	c := newTestConfig(t, nil)
	c.progname = "tlsproxy"
	if p, _ := c.Str("process_name"); p != "tlsproxy" {
		t.Errorf("process_name = %q", p)
	}
	c.Set("process_name", "other")
	if p, _ := c.Str("process_name"); p != "other" {
		t.Errorf("process_name after Set = %q", p)
	}
}

func TestDefinedAndRaw(t *testing.T) {
	c := newTestConfig(t, nil, "x", "$y", "empty", "")
	for _, tc := range []struct {
		name    string
		defined bool
		raw     string
		set     bool
	}{
		{name: "x", defined: true, raw: "$y", set: true},
		{name: "empty", defined: true, raw: "", set: true},
		{name: "tlsproxy_tls_cert_file", defined: true},
		{name: "nope", defined: false},
	} {
		if got := c.Defined(tc.name); got != tc.defined {
			t.Errorf("Defined(%s) = %v", tc.name, got)
		}
		raw, set := c.Raw(tc.name)
		if raw != tc.raw || set != tc.set {
			t.Errorf("Raw(%s) = %q, %v", tc.name, raw, set)
		}
	}
	if got := strings.Join(c.Dump("x", "empty", "mail_name"), "|"); got != "x =|empty =|mail_name = Postfix" {
		t.Errorf("Dump = %q", got)
	}
}

// TestWarnMayReenter makes sure warnings are delivered without holding the
// lock, so a warn function may use the Config.
func TestWarnMayReenter(t *testing.T) {
	var c *Config
	var got []string
	c, err := Parse("main.cf", strings.NewReader("a = ${b\n"), logs.Lines(func(s string) {
		c.Set("seen", s)
		got = append(got, s)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Str("a"); err == nil {
		t.Fatal("no error for truncated reference")
	}
	if v, _ := c.Raw("seen"); len(got) != 1 || v != got[0] {
		t.Errorf("warnings %q, seen %q", got, v)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newTestConfig(t, nil, "smtpd_tls_cert_file", "/c.pem")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			c.Set("smtpd_tls_loglevel", "1")
		}
	}()
	for i := 0; i < 200; i++ {
		if v, err := c.Str("tlsproxy_tls_key_file"); err != nil || v != "/c.pem" {
			t.Fatalf("got %q, %v", v, err)
		}
	}
	<-done
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want containing %q", err, want)
	}
}
