package main

import (
	"fmt"
	"strings"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/maps"
)

// sniReport opens tls_server_sni_maps as the daemon does (hash, btree and
// lmdb tables through postmap -s) and describes it: the list, each problem
// the daemon would log at start-up, and an "ignored:" line per table type
// this implementation cannot read. Nothing without the parameter.
func sniReport(cfg *conf.Config) []string {
	spec, err := cfg.Str("tls_server_sni_maps")
	if err != nil {
		return []string{"warning: tls_server_sni_maps: " + err.Error()}
	}
	if spec == "" {
		return nil
	}
	out := []string{"sni maps: " + spec}
	var problems []string
	cmdDir, _ := cfg.Str("command_directory")
	confDir, _ := cfg.Str("config_directory")
	m, err := maps.Open("tls_server_sni_maps", spec, maps.Env{
		CommandDir: cmdDir,
		ConfigDir:  confDir,
		Log:        logs.Lines(func(s string) { problems = append(problems, s) }),
	})
	if err != nil {
		return append(out, "fatal: "+err.Error())
	}
	for _, p := range problems {
		if !strings.Contains(p, "is not supported by this implementation") {
			out = append(out, "warning: "+p)
		}
	}
	for _, u := range m.Unsupported {
		out = append(out, fmt.Sprintf("ignored: tls_server_sni_maps: %s (table type not supported: its names get the default chain)", u))
	}
	return out
}
