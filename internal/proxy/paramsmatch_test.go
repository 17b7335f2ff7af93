package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// TestParamsMismatch: a client-role request whose TLS_CLIENT_PARAMS
// differ from ours gets Postfix's warning, the differences and the hint,
// once per distinct list; a list equal to ours, or seen before, is silent.
func TestParamsMismatch(t *testing.T) {
	fx, scfg := clientFixture(t)
	fx.srv.Params = map[string]string{
		"tls_high_cipherlist":   "aNULL:-aNULL:HIGH:@STRENGTH", // 3.7's default, what the client sends
		"tls_append_default_CA": "0",
		"tls_ssl_options":       "",
	}
	path := fx.listen(t)
	for i, tc := range []struct {
		params map[string]string // overrides of the client's params
		diff   string            // "": no warning
	}{
		{nil, ""},
		{map[string]string{"tls_append_default_CA": "1", "tls_ssl_options": "NO_TICKET"},
			"(server) 'tls_ssl_options=' != (client) 'tls_ssl_options=NO_TICKET'; " +
				"(server) 'tls_append_default_CA=0' != (client) 'tls_append_default_CA=1'"},
		{map[string]string{"tls_append_default_CA": "1", "tls_ssl_options": "NO_TICKET"}, ""}, // seen
		{map[string]string{"tls_high_cipherlist": "HIGH"},
			"(server) 'tls_high_cipherlist=aNULL:-aNULL:HIGH:@STRENGTH' != (client) 'tls_high_cipherlist=HIGH'"},
		{map[string]string{"tls_eecdh_auto_curves": "prime256v1"}, ""}, // not in our map: not compared
	} {
		props := map[string]string{}
		for k, v := range tc.params {
			props["params."+k] = v
		}
		from := len(fx.rec.Lines())
		port := 2600 + i
		if st := clientInitRequest(t, fx, path, scfg, port, props); st != 1 {
			t.Errorf("request %d: status %d", i, st)
		}
		seg := fx.rec.Lines()[from:]
		if tc.diff == "" {
			if n := strings.Count(strings.Join(seg, "\n"), "unexpected settings"); n != 0 {
				t.Errorf("request %d: warned:\n%s", i, strings.Join(seg, "\n"))
			}
			continue
		}
		checkInOrder(t, i, seg, []string{fmt.Sprintf("CONNECT to [127.0.0.1]:%d", port),
			"warning: request from tlsproxy client with unexpected settings", "warning: " + tc.diff, hintLine})
	}
}
