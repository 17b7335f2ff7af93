package main

import (
	"path/filepath"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/tlsconf"
)

// useInstalledDefaults makes the parameter defaults those of the
// installed Postfix release (installedVersion, cached in data_directory),
// so that an unset parameter means what "postconf -d" of that release
// says. If the release cannot be learned, the defaults stay 3.7.11's
// (generations warns about it).
func useInstalledDefaults(cfg *conf.Config) {
	dir, err := cfg.Str("command_directory")
	if err != nil {
		return
	}
	dataDir, err := cfg.Str("data_directory")
	if err != nil {
		return
	}
	if v, err := installedVersion(filepath.Join(dir, "postconf"), dataDir); err == nil {
		tlsconf.UseRelease(cfg, v)
	}
}
