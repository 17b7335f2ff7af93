package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/proxy"
)

// generations reads tlsproxy_postfix_version (our parameter): a pinned
// Postfix release, trusted for every connection, or "auto": the release
// of the installed Postfix, asked from postconf(1) before the jail, with
// each connection still checked for a client that speaks first.
func generations(cfg *conf.Config, warn func(string)) (*proxy.Generations, error) {
	pin, err := cfg.Str("tlsproxy_postfix_version")
	if err != nil {
		return nil, err
	}
	if pin != "auto" {
		v, err := pfversion.Parse(pin)
		if err != nil {
			return nil, fmt.Errorf("invalid tlsproxy_postfix_version: %v", err)
		}
		return &proxy.Generations{Expect: v, Pinned: true}, nil
	}
	dir, err := cfg.Str("command_directory")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postconf"), "-dh", "mail_version").Output()
	if err == nil {
		var v pfversion.Version
		if v, err = pfversion.Parse(strings.TrimSpace(string(out))); err == nil {
			return &proxy.Generations{Expect: v}, nil
		}
	}
	warn(fmt.Sprintf("cannot tell the installed Postfix version (%v): expecting Postfix 3.6 or later clients;"+
		" set tlsproxy_postfix_version to pin it", err))
	return &proxy.Generations{}, nil
}
