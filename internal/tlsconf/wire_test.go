package tlsconf

import (
	"strings"
	"testing"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pfversion"
)

// TestWireParamsMatchClients: with main.cf at its defaults, our params
// are what smtp(8) of the same release sends (pfclient's captures), so a
// request from it is not warned about as "unexpected settings".
func TestWireParamsMatchClients(t *testing.T) {
	for _, vs := range []string{"3.7.11", "3.10.13"} {
		v := pfversion.MustParse(vs)
		cfg, err := conf.Parse("main.cf", strings.NewReader(""), nil)
		if err != nil {
			t.Fatal(err)
		}
		UseRelease(cfg, v)
		ours := WireParams(cfg)
		second, _, err := pfclient.ClientRole(v, "[192.0.2.1]:25", "mx.example[192.0.2.1]:25").Second()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range second {
			if a.Name == "log_param" {
				break
			}
			n++
			if got, ok := ours[a.Name]; !ok || got != a.Value {
				t.Errorf("%s: %s: ours %q (%v), smtp sends %q", vs, a.Name, got, ok, a.Value)
			}
		}
		if n < 15 {
			t.Errorf("%s: only %d params compared", vs, n)
		}
	}
}
