package proxy

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlspolicy"
)

// g5Init is what pfclient's 3.12 postscreen sends as TLS_SERVER_INIT_PROPS.
func g5Init() map[string]string {
	return map[string]string{"log_param": "tlsproxy_tls_loglevel", "log_level": "0", "verifydepth": "9",
		"cache_type": "smtpd", "set_sessid": "1", "chain_files": "",
		"cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem", "key_file": "/etc/ssl/private/ssl-cert-snakeoil.key",
		"dcert_file": "", "dkey_file": "", "eccert_file": "", "eckey_file": "", "CAfile": "", "CApath": "",
		"protocols": ">=TLSv1", "eecdh_grade": "auto", "dh1024_param_file": "", "dh512_param_file": "",
		"ask_ccert": "0", "mdalg": "sha256"}
}

// TestServerSettingsG5: a 3.12 postscreen's own server settings are used as
// Postfix 3.12's tlsproxy uses them: per session the cipher grade and
// exclusions, requirecert (no TLSv1/TLSv1.1, untrusted details) and the
// per-peer log level (where "trace" keeps the rest of the level); other
// init props that name files get a context of their own, with Postfix's
// warnings once; other TLS_SERVER_PARAMS get the params warning once.
func TestServerSettingsG5(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.ServerInit = g5Init()
	fx.srv.Params = map[string]string{"tls_ssl_options": "", "tls_preempt_cipherlist": "0"}
	var built atomic.Int32
	fx.srv.NewServer = func(init map[string]string) *tlspolicy.Server {
		built.Add(1)
		return fx.srv.TLS // a context "made from" the request's files
	}
	path := fx.listen(t)
	v := pfversion.MustParse("3.12-20260821")
	gcm12 := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	tls11 := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	for i, tc := range []struct {
		name   string
		props  map[string]string
		client *tls.Config
		ok     bool
		lines  []string // in order, after CONNECT
		absent []string
		built  int32
	}{
		{"same settings", nil, nil, true, []string{"Anonymous TLS connection established"}, []string{"warning:"}, 0},
		{"exclusion refuses the suite", map[string]string{"start.cipher_exclusions": "AESGCM"}, gcm12, false, nil, nil, 0},
		{"without it", nil, gcm12, true, nil, nil, 0},
		{"TLSv1.1 allowed", nil, tls11, true, nil, nil, 0},
		{"requirecert refuses TLSv1.1", map[string]string{"start.requirecert": "1"}, tls11, false, nil, nil, 0},
		{"per-peer log level 0", map[string]string{"start.log_level": "0"}, nil, true, nil, []string{"established"}, 0},
		{"trace keeps the level", map[string]string{"start.log_level": "1, trace"}, nil, true,
			[]string{`warning: postscreen_tls_loglevel: ignoring "trace" log level: SSL_trace() is not available in this build`,
				"Anonymous TLS connection established"}, nil, 0},
		{"other params", map[string]string{"params.tls_ssl_options": "NO_TICKET"}, nil, true,
			[]string{"warning: request from tlsproxy client with unexpected settings",
				"warning: (server) 'tls_ssl_options=' != (client) 'tls_ssl_options=NO_TICKET'",
				"warning: " + serverHint}, nil, 0},
		{"other params, again", map[string]string{"params.tls_ssl_options": "NO_TICKET"}, nil, true, nil, []string{"warning:"}, 0},
		{"other certificate", map[string]string{"init.cert_file": "/etc/other.pem"}, nil, true,
			[]string{"warning: request from tlsproxy server with unexpected settings",
				"warning: (server) 'cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem' != (client) 'cert_file=/etc/other.pem'",
				"warning: " + serverHint}, nil, 1},
		{"other certificate, again", map[string]string{"init.cert_file": "/etc/other.pem"}, nil, true, nil, []string{"warning:"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := fmt.Sprintf("[127.0.0.1]:%d", 2700+i)
			r := pfclient.ServerRole(v, ep)
			r.Props = map[string]string{"start.log_level": "1"}
			for k, v := range tc.props {
				r.Props[k] = v
			}
			from := len(fx.rec.Lines())
			rc, rf, err := pftest.NewRemotePair()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			c, st, err := pfclient.Open(path, r, rf)
			rf.Close()
			if err != nil || st != 1 {
				t.Fatalf("open: status %d, %v", st, err)
			}
			cfg := &tls.Config{RootCAs: fx.pool, ServerName: "mx.example.test"}
			if tc.client != nil {
				cfg = tc.client.Clone()
				cfg.RootCAs, cfg.ServerName = fx.pool, "mx.example.test"
			}
			tconn := tls.Client(rc, cfg)
			_ = tconn.SetDeadline(time.Now().Add(10 * time.Second))
			herr := tconn.Handshake()
			if (herr == nil) != tc.ok {
				t.Errorf("handshake: %v, want ok=%v", herr, tc.ok)
			}
			tconn.Close()
			c.Close()
			waitLine(t, fx, "DISCONNECT "+ep)
			seg := fx.rec.Lines()[from:]
			checkInOrder(t, i, seg, append([]string{"CONNECT from " + ep}, tc.lines...))
			for _, a := range tc.absent {
				if strings.Contains(strings.Join(seg, "\n"), a) {
					t.Errorf("%q logged:\n%s", a, strings.Join(seg, "\n"))
				}
			}
			if got := built.Load(); got != tc.built {
				t.Errorf("%d contexts made from requests, want %d", got, tc.built)
			}
		})
	}
}
