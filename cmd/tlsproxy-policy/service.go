package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// masterService is one master.cf entry, as master(8) reads it.
type masterService struct {
	name, typ string
	command   string
	args      []string // after the command, braces of "{ ... }" removed
	line      int      // where the entry starts
}

// errNoService: the -s service is not in master.cf or runs no tlsproxy.
var errNoService = errors.New("no such tlsproxy service")

// serviceOverrides returns the -o settings of service ("name" or
// "name/type", as postconf -M names entries; a bare name prefers the unix
// entry) in dir/master.cf, in order, and a line that names the entry.
func serviceOverrides(dir, service string) ([]string, string, error) {
	if dir == "" {
		dir = "/etc/postfix"
	}
	path := filepath.Join(dir, "master.cf")
	entries, err := readMasterCf(path)
	if err != nil {
		return nil, "", err
	}
	name, typ, _ := strings.Cut(service, "/")
	var found *masterService
	for i := range entries {
		e := &entries[i]
		if e.name != name || (typ != "" && e.typ != typ) {
			continue
		}
		if found == nil || (typ == "" && e.typ == "unix" && found.typ != "unix") {
			found = e
		}
	}
	if found == nil {
		return nil, "", fmt.Errorf("%w: %s has no service %q", errNoService, path, service)
	}
	if filepath.Base(found.command) != "tlsproxy" {
		return nil, "", fmt.Errorf("%w: service %s/%s in %s runs %q, not tlsproxy", errNoService, found.name, found.typ, path, found.command)
	}
	var opts []string
	for i := 0; i < len(found.args); i++ {
		a := found.args[i]
		switch {
		case a == "-o" && i+1 < len(found.args):
			i++
			opts = append(opts, found.args[i])
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts = append(opts, a[2:])
		}
	}
	desc := fmt.Sprintf("service: %s/%s (%s line %d)", found.name, found.typ, path, found.line)
	for _, o := range opts {
		desc += " -o " + o
	}
	return opts, desc, nil
}

// readMasterCf reads master.cf: "#" comment lines and empty lines are
// skipped, a line that starts with white space continues the entry
// before it, the first eight fields are name, type, private, unpriv,
// chroot, wakeup, maxproc and command, and the rest are its arguments,
// where "{ ... }" is one argument (braces and the white space inside them
// at either end removed, as master does since Postfix 3.0).
func readMasterCf(path string) ([]masterService, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		entries []masterService
		text    []string
		start   int
	)
	flush := func() error {
		if len(text) == 0 {
			return nil
		}
		fields, err := splitMasterFields(strings.Join(text, " "))
		text = nil
		if err != nil {
			return fmt.Errorf("%s line %d: %v", path, start, err)
		}
		if len(fields) < 8 {
			return fmt.Errorf("%s line %d: %d fields, want at least 8", path, start, len(fields))
		}
		entries = append(entries, masterService{name: fields[0], typ: fields[1], command: fields[7], args: fields[8:], line: start})
		return nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(text) == 0 {
				return nil, fmt.Errorf("%s line %d: continuation line without an entry", path, n)
			}
			text = append(text, trimmed)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		text, start = []string{trimmed}, n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return entries, nil
}

// splitMasterFields splits at white space; "{ ... }" (nested braces
// allowed) is one field without its outer braces.
func splitMasterFields(s string) ([]string, error) {
	var fields []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '{':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j == len(s) {
				return nil, errors.New("missing '}'")
			}
			fields = append(fields, strings.TrimSpace(s[i+1:j]))
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			fields = append(fields, s[i:j])
			i = j
		}
	}
	return fields, nil
}
