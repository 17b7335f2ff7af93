package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
)

func TestSNIReport(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "x.pem")
	os.WriteFile(pem, []byte("PEM\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sni"), []byte("x.example "+pem+"\ny.example "+dir+"/none.pem\n"), 0o644)
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{"", nil},
		{"texthash:" + dir + "/sni", []string{"sni maps: texthash:" + dir + "/sni",
			"warning: " + dir + "/sni, line 2: open " + dir + "/none.pem: No such file or directory: skipping this entry"}},
		{"ldap:" + dir + "/ldap.cf, cdb:" + dir + "/none", []string{"sni maps: ldap:" + dir + "/ldap.cf, cdb:" + dir + "/none",
			"warning: open database " + dir + "/none.cdb: No such file or directory",
			"ignored: tls_server_sni_maps: ldap:" + dir + "/ldap.cf (table type not supported: its names get the default chain)"}},
		{"nocolon", []string{"sni maps: nocolon", `fatal: open dictionary: expecting "type:name" form instead of "nocolon"`}},
	} {
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("tls_server_sni_maps = "+tc.value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := conf.Load(dir, nil, logs.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := sniReport(cfg); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%q:\n%s\nwant\n%s", tc.value, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}
