package main

import (
	"tlsproxy/internal/conf"
	"tlsproxy/internal/maillog"
	"tlsproxy/internal/maps"
	"tlsproxy/internal/tlspolicy"
)

// sniSetup opens tls_server_sni_maps, as Postfix's tls_pre_jail_init
// does for the server role: before the jail, every table read then. It
// returns what tells the daemon that a table has changed on disk (nil
// without tables), or an error that is fatal (an item without the
// type:name form).
func sniSetup(cfg *conf.Config, srv *tlspolicy.Server, log *maillog.Logger) (func() string, error) {
	spec, err := cfg.Str("tls_server_sni_maps")
	if err != nil || spec == "" {
		return nil, err
	}
	cmdDir, _ := cfg.Str("command_directory")
	confDir, _ := cfg.Str("config_directory")
	m, err := maps.Open("tls_server_sni_maps", spec, maps.Env{
		CommandDir: cmdDir,
		ConfigDir:  confDir,
		Log:        log,
	})
	if err != nil {
		return nil, err
	}
	srv.SetSNI(m, log)
	return m.Changed, nil
}
