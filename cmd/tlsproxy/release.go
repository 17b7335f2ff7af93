package main

import (
	"tlsproxy/internal/conf"
	"tlsproxy/internal/tlsconf"
)

// useInstalledDefaults makes the parameter defaults those of the
// installed Postfix release (installedRelease: the Postfix that runs this
// process), so that an unset parameter means what "postconf -d" of that
// release says. If the release cannot be learned, the defaults stay
// 3.7.11's (generations warns about it).
func useInstalledDefaults(cfg *conf.Config) {
	if v, _, err := installedRelease(cfg); err == nil {
		tlsconf.UseRelease(cfg, v)
	}
}
