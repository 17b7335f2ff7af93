package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
)

// stampedProgram writes a file that stands for a Postfix program of
// release v ("" = a program with no stamp). The stamp is built at run
// time so that this test binary carries none.
func stampedProgram(t *testing.T, path, v string) {
	t.Helper()
	b := []byte("\x7fELF program text\x00")
	if v != "" {
		b = append(b, "mail_version="...)
		b = append(b, v...)
		b = append(b, 0)
	}
	b = append(b, "more text\x00"...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func testConfig(t *testing.T, mainCF string) *conf.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(dir, nil, logs.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLearnRelease: the release comes from the Postfix that runs the
// process (its master, the master beside this program, then what
// main.cf names), never from a postconf elsewhere on the host.
func TestLearnRelease(t *testing.T) {
	const ppid = 4242
	type stamp struct{ path, release string } // a program under root and its stamp ("" = none)
	for _, tc := range []struct {
		name    string
		stamped []stamp
		links   map[string]string // link under proc → its target under root
		fifo    string            // a FIFO made under root
		mainCF  string            // $ROOT stands for root
		want    string            // "" = nothing learned
		from    string            // file the release came from, under root
	}{
		{name: "parent master",
			stamped: []stamp{{"/pf33/libexec/master", "3.3.0"}},
			links:   map[string]string{"/4242/exe": "/pf33/libexec/master"},
			want:    "3.3.0", from: "/pf33/libexec/master"},
		{name: "parent beats another postconf named in main.cf",
			stamped: []stamp{{"/pf33/libexec/master", "3.3.0"}, {"/usr/sbin/postconf", "3.7.11"}},
			links:   map[string]string{"/4242/exe": "/pf33/libexec/master"},
			mainCF:  "command_directory = $ROOT/usr/sbin\n",
			want:    "3.3.0", from: "/pf33/libexec/master"},
		{name: "upgraded under a running master",
			// the running image, and what the master starts now
			stamped: []stamp{{"/libexec/master (deleted)", "3.5.20"}, {"/libexec/master", "3.7.11"}},
			links:   map[string]string{"/4242/exe": "/libexec/master (deleted)"},
			want:    "3.7.11", from: "/libexec/master"},
		{name: "running image of a removed master",
			stamped: []stamp{{"/libexec/master (deleted)", "3.5.20"}},
			links:   map[string]string{"/4242/exe": "/libexec/master (deleted)"},
			want:    "3.5.20", from: "/libexec/master (deleted)"},
		{name: "parent is no Postfix program: master beside this program",
			stamped: []stamp{{"/bin/init", ""}, {"/libexec/master", "2.11.11"}, {"/libexec/tlsproxy", ""}},
			links:   map[string]string{"/4242/exe": "/bin/init", "/self/exe": "/libexec/tlsproxy"},
			want:    "2.11.11", from: "/libexec/master"},
		{name: "daemon_directory set in main.cf",
			stamped: []stamp{{"/other/master", "3.4.0"}},
			mainCF:  "daemon_directory = $ROOT/other\ncommand_directory = $ROOT/sbin\n",
			want:    "3.4.0", from: "/other/master"},
		{name: "command_directory set in main.cf",
			stamped: []stamp{{"/sbin/postconf", "3.10.13"}},
			mainCF:  "daemon_directory = $ROOT/other\ncommand_directory = $ROOT/sbin\n",
			want:    "3.10.13", from: "/sbin/postconf"},
		{name: "a FIFO named in main.cf is not waited for",
			fifo: "/fifo/master", mainCF: "daemon_directory = $ROOT/fifo\n"},
		{name: "nothing: the defaults of main.cf are not asked",
			stamped: []stamp{{"/bin/init", ""}},
			links:   map[string]string{"/4242/exe": "/bin/init"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			proc := filepath.Join(root, "proc")
			for _, s := range tc.stamped {
				stampedProgram(t, root+s.path, s.release)
			}
			for link, target := range tc.links {
				symlink(t, root+target, proc+link)
			}
			if tc.fifo != "" {
				if err := os.MkdirAll(filepath.Dir(root+tc.fifo), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mkfifo(root+tc.fifo, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(t, strings.ReplaceAll(tc.mainCF, "$ROOT", root))
			f := releaseFinder{procDir: proc, ppid: ppid, cfg: cfg}
			v, from, err := f.learnRelease()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("learned %v from %s", v, from)
				}
				return
			}
			if err != nil || v.String() != tc.want || from != root+tc.from {
				t.Errorf("got %v from %q (%v); want %s from %s", v, from, err, tc.want, root+tc.from)
			}
		})
	}
}

// TestGenerations: the parameter pins first, then the environment; a
// bad pin is fatal; the cache earlier builds wrote is removed.
func TestGenerations(t *testing.T) {
	for _, tc := range []struct {
		name, mainCF string
		environ      []string
		want         string // release, "" = unknown
		from         string
		pinned       bool
		fatal        bool
	}{
		{name: "parameter", mainCF: "tlsproxy_postfix_version = 2.11.11\n", environ: []string{pinEnv + "=3.7.11"},
			want: "2.11.11", from: "pinned by tlsproxy_postfix_version", pinned: true},
		{name: "environment", environ: []string{"TZ=UTC", pinEnv + "=3.3.22"},
			want: "3.3.22", from: "pinned by " + pinEnv + " in the environment", pinned: true},
		{name: "import_environment now", environ: []string{pinEnv + "=3.3.22"},
			mainCF: "import_environment = MAIL_CONFIG TZ, LANG=C\n\t" + pinEnv + "=3.5.20 POSTLOG_SERVICE\n",
			want:   "3.5.20", from: "pinned by " + pinEnv + " in import_environment", pinned: true},
		{name: "import_environment without a value", environ: []string{pinEnv + "=3.3.22"},
			mainCF: "import_environment = MAIL_CONFIG " + pinEnv + "\n",
			want:   "3.3.22", from: "pinned by " + pinEnv + " in the environment", pinned: true},
		{name: "bad parameter", mainCF: "tlsproxy_postfix_version = 3.x\n", fatal: true},
		{name: "bad environment", environ: []string{pinEnv + "=2.7.0"}, fatal: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, from, err := generations(testConfig(t, tc.mainCF), tc.environ, logs.Lines(func(w string) { t.Errorf("warning %s", w) }))
			if tc.fatal {
				if err == nil {
					t.Fatalf("no error; got %v", g.Expect)
				}
				return
			}
			if err != nil || g.Expect.String() != tc.want || from != tc.from || g.Pinned != tc.pinned || g.Learned {
				t.Errorf("got %+v %q %v", g, from, err)
			}
		})
	}
	t.Run("legacy cache removed", func(t *testing.T) {
		data := t.TempDir()
		cache := filepath.Join(data, legacyCacheName)
		if err := os.WriteFile(cache, []byte("postconf 1 2 3 4\n3.7.11\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := generations(testConfig(t, "data_directory = "+data+"\ntlsproxy_postfix_version = 3.7.11\n"), nil, logs.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(cache); !os.IsNotExist(err) {
			t.Errorf("cache still there: %v", err)
		}
	})
	t.Run("a link in its place is left alone", func(t *testing.T) {
		data := t.TempDir()
		target := filepath.Join(t.TempDir(), "keep")
		if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		symlink(t, target, filepath.Join(data, legacyCacheName))
		if _, _, err := generations(testConfig(t, "data_directory = "+data+"\ntlsproxy_postfix_version = 3.7.11\n"), nil, logs.Discard); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(data, legacyCacheName)); err != nil || !strings.HasPrefix(string(b), "keep") {
			t.Errorf("link or target changed: %q %v", b, err)
		}
	})
}
