package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/proxy"
)

// generations reads tlsproxy_postfix_version (our parameter): a pinned
// Postfix release, trusted for every connection, or "auto": the release
// of the installed Postfix (installedVersion), with each connection still
// checked for a client that speaks first.
func generations(cfg *conf.Config, log logs.Logger) (*proxy.Generations, error) {
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
	dataDir, err := cfg.Str("data_directory")
	if err != nil {
		return nil, err
	}
	v, err := installedVersion(filepath.Join(dir, "postconf"), dataDir)
	if err == nil {
		return &proxy.Generations{Expect: v}, nil
	}
	log.Warnf("cannot tell the installed Postfix version (%v): expecting Postfix 3.6 or later clients;"+
		" set tlsproxy_postfix_version to pin it", err)
	return &proxy.Generations{}, nil
}

// versionCacheName is the file under data_directory that keeps the
// installed Postfix release from one tlsproxy process to the next.
const versionCacheName = "tlsproxy-postfix-version"

// installedVersion returns the installed Postfix release, "postconf -dh
// mail_version", before the jail. Running postconf costs about 6 ms of
// CPU, and Postfix starts a tlsproxy process every max_use (100) sessions,
// so the answer is kept in data_directory, valid while postconf itself
// (device, inode, size, modification time) is unchanged: a later process
// reads it instead. The cache is a convenience: when it cannot be read or
// written, postconf is asked.
func installedVersion(postconf, dataDir string) (pfversion.Version, error) {
	fi, err := os.Stat(postconf)
	if err != nil {
		return pfversion.Version{}, err
	}
	key := fileIdentity(fi)
	cache := ""
	if dataDir != "" {
		cache = filepath.Join(dataDir, versionCacheName)
		if v, ok := readVersionCache(cache, key); ok {
			return v, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, postconf, "-dh", "mail_version").Output()
	if err != nil {
		return pfversion.Version{}, err
	}
	text := strings.TrimSpace(string(out))
	v, err := pfversion.Parse(text)
	if err != nil {
		return pfversion.Version{}, err
	}
	if cache != "" {
		writeVersionCache(cache, key+"\n"+text+"\n")
	}
	return v, nil
}

// fileIdentity names one version of a file: device, inode, size and
// modification time.
func fileIdentity(fi os.FileInfo) string {
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(st.Dev), st.Ino
	}
	return fmt.Sprintf("postconf %d %d %d %d", dev, ino, fi.Size(), fi.ModTime().UnixNano())
}

// readVersionCache returns the release the cache holds for key. It does
// not follow a symbolic link, and reads at most 512 bytes.
func readVersionCache(path, key string) (pfversion.Version, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return pfversion.Version{}, false
	}
	defer f.Close()
	b := make([]byte, 512)
	n, _ := io.ReadFull(f, b)
	got, text, ok := strings.Cut(string(b[:n]), "\n")
	if !ok || got != key {
		return pfversion.Version{}, false
	}
	v, err := pfversion.Parse(strings.TrimSpace(text))
	return v, err == nil
}

// writeVersionCache replaces the cache with content: a new file (never
// an existing one, so no link is followed), renamed over the old one.
// Failures are ignored.
func writeVersionCache(path, content string) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}
