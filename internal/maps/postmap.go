package maps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// openPostmap lists an indexed table (hash:, btree:, lmdb:) with the
// installation's "postmap -s" and keeps its values (base64, from
// "postmap -F") in memory. The database file stays open for Changed.
func openPostmap(typ, name string, env Env) (table, *watched) {
	suffix := ".db"
	if typ == "lmdb" {
		suffix = ".lmdb"
	}
	var w *watched
	if f, err := os.Open(name + suffix); err == nil {
		w = watch(f)
	} else {
		return newSurrogate(typ, name, fmt.Sprintf("open database %s%s: %s", name, suffix, errnoText(err)), env), nil
	}
	out, err := runPostmap(typ, name, env)
	if err != nil {
		return newSurrogate(typ, name, err.Error(), env), w
	}
	return parsePostmap(out), w
}

// runPostmap runs "postmap -c config_directory -s type:name" from
// command_directory with a small fixed environment.
func runPostmap(typ, name string, env Env) ([]byte, error) {
	cmdDir := env.CommandDir
	if cmdDir == "" {
		cmdDir = "/usr/sbin"
	}
	timeout := env.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"-s", typ + ":" + name}
	if env.ConfigDir != "" {
		args = append([]string{"-c", env.ConfigDir}, args...)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cmdDir, "postmap"), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C"}
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("cannot list %s:%s with %s: %s", typ, name, cmd.Path, msg)
	}
	return stdout.Bytes(), nil
}

// parsePostmap reads "key<TAB>value" lines (postmap -s). Values, base64
// text, hold no tab; a key may (quoted keys of the source), so the line
// splits at its last tab.
func parsePostmap(out []byte) *fixed {
	t := &fixed{m: map[string]string{}, b64: true}
	for _, line := range strings.Split(string(out), "\n") {
		i := strings.LastIndexByte(line, '\t')
		if i < 0 {
			continue
		}
		k := line[:i]
		if _, dup := t.m[k]; !dup {
			t.m[k] = line[i+1:]
		}
	}
	return t
}
