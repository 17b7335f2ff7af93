package tlsconf

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/pfversion"
)

// InstalledRelease asks the installed Postfix for its release
// ("$command_directory/postconf -dh mail_version").
func InstalledRelease(cfg *conf.Config) (pfversion.Version, error) {
	dir, err := cfg.Str("command_directory")
	if err != nil {
		return pfversion.Version{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postconf"), "-dh", "mail_version").Output()
	if err != nil {
		return pfversion.Version{}, err
	}
	return pfversion.Parse(strings.TrimSpace(string(out)))
}

// UseRelease makes cfg's defaults those of release v, unless v is zero
// (release unknown: the defaults stay those of conf.BaseRelease).
func UseRelease(cfg *conf.Config, v pfversion.Version) {
	if v.Major != 0 {
		cfg.SetRelease(conf.Release{Major: v.Major, Minor: v.Minor, Patch: v.Patch, Snapshot: v.Snapshot})
	}
}

// CheckMaillogFile applies the rule every Postfix daemon applies when it
// logs to postlogd: maillog_file must start with one of the
// maillog_file_prefixes; the error is Postfix's fatal message.
func CheckMaillogFile(cfg *conf.Config) error {
	file, err := cfg.Str("maillog_file")
	if err != nil || file == "" {
		return err
	}
	pfxs, err := cfg.Str("maillog_file_prefixes")
	if err != nil {
		return err
	}
	for _, p := range strings.FieldsFunc(pfxs, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		if strings.HasPrefix(file, p) {
			return nil
		}
	}
	return fmt.Errorf("maillog_file value '%s' does not match any prefix in maillog_file_prefixes", file)
}
