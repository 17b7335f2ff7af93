package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/proxy"
)

// pinEnv is the environment variable that pins the client release. An
// operator sets it with import_environment in main.cf (master(8) puts
// NAME=VALUE entries of that list into its children's environment), a
// setting that neither postconf nor "postfix check" warns about, and
// that Postfix's own tlsproxy ignores (see envPin).
const pinEnv = "TLSPROXY_POSTFIX_VERSION"

// legacyCacheName is the file under data_directory where earlier builds
// kept the installed release. It was root-owned, so "postfix check"
// warned about it; it is removed at start-up.
const legacyCacheName = "tlsproxy-postfix-version"

// releaseFinder says where the release of the running Postfix is read
// from (tests replace procDir and ppid).
type releaseFinder struct {
	procDir string // "/proc"
	ppid    int    // the parent process: master(8)
	cfg     *conf.Config
}

// generations decides which Postfix release the clients are: pinned by
// tlsproxy_postfix_version (our parameter, kept for existing
// configurations) or by TLSPROXY_POSTFIX_VERSION in the environment, or,
// on "auto", learned from the Postfix installation that runs this
// process (learnRelease). It returns the choice and a line that says
// where it came from. Only when nothing can be learned does each
// connection have to be looked at for an old client's early request
// (proxy.Generations).
func generations(cfg *conf.Config, environ []string, log logs.Logger) (*proxy.Generations, string, error) {
	removeLegacyCache(cfg)
	pin, err := cfg.Str("tlsproxy_postfix_version")
	if err != nil {
		return nil, "", err
	}
	if pin != "auto" {
		v, err := pfversion.Parse(pin)
		if err != nil {
			return nil, "", fmt.Errorf("invalid tlsproxy_postfix_version: %v", err)
		}
		return &proxy.Generations{Expect: v, Pinned: true}, "pinned by tlsproxy_postfix_version", nil
	}
	if pin, where := envPin(cfg, environ); pin != "" {
		v, err := pfversion.Parse(pin)
		if err != nil {
			return nil, "", fmt.Errorf("invalid %s: %v", pinEnv, err)
		}
		return &proxy.Generations{Expect: v, Pinned: true}, "pinned by " + pinEnv + " in " + where, nil
	}
	v, from, err := installedRelease(cfg)
	if err == nil {
		return &proxy.Generations{Expect: v, Learned: true}, "learned from " + from, nil
	}
	log.Warnf("cannot tell the release of the Postfix that runs this program (%v):"+
		" each connection is looked at for an early request of a pre-3.6 client;"+
		" set %s=x.y.z in import_environment to pin it", err, pinEnv)
	return &proxy.Generations{}, "unknown", nil
}

// envPin returns the value of TLSPROXY_POSTFIX_VERSION and where it was
// found: first an entry TLSPROXY_POSTFIX_VERSION=value in
// import_environment as main.cf (or -o) has it now — master(8) applies
// that parameter only when it starts, a tlsproxy process reads main.cf
// afresh, so "postfix reload" is enough — else the environment master
// passed.
func envPin(cfg *conf.Config, environ []string) (value, where string) {
	if list, err := cfg.Str("import_environment"); err == nil {
		for _, item := range strings.FieldsFunc(list, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
		}) {
			if v, ok := strings.CutPrefix(item, pinEnv+"="); ok && v != "" {
				return v, "import_environment"
			}
		}
	}
	if v := env(environ, pinEnv); v != "" {
		return v, "the environment"
	}
	return "", ""
}

// logRelease is the release whose log lines and context details the
// process writes (tlspolicy.SetRelease): the installed one when it can be
// learned, else the pinned one; zero (3.7's) when neither is known.
func logRelease(cfg *conf.Config, gens *proxy.Generations) pfversion.Version {
	if v, _, err := installedRelease(cfg); err == nil {
		return v
	}
	return gens.Expect
}

// learned keeps what installedRelease found for one configuration: the
// defaults of that release (release.go) and the generations use it, and
// the files are read once per process.
var learned struct {
	sync.Mutex
	cfg  *conf.Config
	v    pfversion.Version
	from string
	err  error
}

// installedRelease returns the release of the Postfix that runs this
// process and the file it was read from (learnRelease).
func installedRelease(cfg *conf.Config) (pfversion.Version, string, error) {
	learned.Lock()
	defer learned.Unlock()
	if learned.cfg != cfg {
		f := releaseFinder{procDir: "/proc", ppid: os.Getppid(), cfg: cfg}
		learned.v, learned.from, learned.err = f.learnRelease()
		learned.cfg = cfg
	}
	return learned.v, learned.from, learned.err
}

// learnRelease reads the version stamp (pfversion.FromProgram) of the
// Postfix that runs this process, trying in turn:
//
//  1. the program of the parent process, master(8): the file now at its
//     path (after an upgrade and "postfix reload" the old master runs on,
//     but starts the new programs), else the running image;
//  2. master in the directory this program was started from: master runs
//     $daemon_directory/tlsproxy;
//  3. master in daemon_directory and postconf in command_directory, when
//     main.cf sets them.
//
// It never asks a program found elsewhere on the host, and runs nothing.
func (f releaseFinder) learnRelease() (pfversion.Version, string, error) {
	var tried []string
	try := func(path string) (pfversion.Version, bool) {
		v, err := stampOf(path)
		if err != nil {
			tried = append(tried, err.Error())
			return v, false
		}
		return v, true
	}
	exe := filepath.Join(f.procDir, strconv.Itoa(f.ppid), "exe")
	if link, err := os.Readlink(exe); err != nil {
		tried = append(tried, "parent: "+err.Error())
	} else {
		path := strings.TrimSuffix(link, " (deleted)")
		v, err := stampOf(path)
		if err == nil {
			return v, path, nil
		}
		tried = append(tried, err.Error())
		// The running image, when the file at its path is gone or
		// cannot be reached from here.
		if path != link || !errors.Is(err, pfversion.ErrNoStamp) {
			if v, ok := try(exe); ok {
				return v, link, nil
			}
		}
	}
	if self, err := os.Readlink(filepath.Join(f.procDir, "self", "exe")); err == nil {
		path := filepath.Join(filepath.Dir(strings.TrimSuffix(self, " (deleted)")), "master")
		if v, ok := try(path); ok {
			return v, path, nil
		}
	}
	for _, p := range []struct{ param, program string }{
		{"daemon_directory", "master"}, {"command_directory", "postconf"},
	} {
		if _, set := f.cfg.Raw(p.param); !set {
			continue
		}
		dir, err := f.cfg.Str(p.param)
		if err != nil || dir == "" {
			continue
		}
		path := filepath.Join(dir, p.program)
		if v, ok := try(path); ok {
			return v, path, nil
		}
	}
	return pfversion.Version{}, "", errors.New(strings.Join(tried, "; "))
}

// maxProgramSize bounds what stampOf reads of one file.
const maxProgramSize = 64 << 20

// stampOf reads the version stamp of the regular file at path (opened
// without blocking, should it be a FIFO), at most maxProgramSize bytes.
func stampOf(path string) (pfversion.Version, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return pfversion.Version{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return pfversion.Version{}, fmt.Errorf("%s: not a regular file", path)
	}
	v, err := pfversion.FromProgram(io.LimitReader(f, maxProgramSize))
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// removeLegacyCache removes the release cache earlier builds left in
// data_directory, a regular file only (never through a link).
func removeLegacyCache(cfg *conf.Config) {
	dir, err := cfg.Str("data_directory")
	if err != nil || dir == "" {
		return
	}
	path := filepath.Join(dir, legacyCacheName)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		_ = os.Remove(path)
	}
}
