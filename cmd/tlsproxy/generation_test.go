package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakePostconf writes a postconf that prints version and appends a line
// to DIR/runs each time it runs.
func fakePostconf(t *testing.T, dir, version string) string {
	t.Helper()
	path := filepath.Join(dir, "postconf")
	script := "#!/bin/sh\necho run >> " + filepath.Join(dir, "runs") + "\necho " + version + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func runs(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

// TestInstalledVersionCache: postconf runs once; later processes read the
// cache in data_directory until postconf changes; a broken, foreign or
// linked cache, or none at all, only means postconf runs again; the cache
// is never written through a symbolic link.
func TestInstalledVersionCache(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, bin, data, postconf string) // between the first and second call
		data  bool                                           // a data_directory is given
		want  string                                         // version of the second call
		runs  int                                            // postconf runs after both calls
	}{
		{name: "cached", data: true, want: "3.7.11", runs: 1, steps: func(*testing.T, string, string, string) {}},
		{name: "no data_directory", data: false, want: "3.7.11", runs: 2, steps: func(*testing.T, string, string, string) {}},
		{name: "postconf upgraded", data: true, want: "3.9.1", runs: 2, steps: func(t *testing.T, bin, data, postconf string) {
			fakePostconf(t, bin, "3.9.1")
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(postconf, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "corrupt cache", data: true, want: "3.7.11", runs: 2, steps: func(t *testing.T, bin, data, postconf string) {
			if err := os.WriteFile(filepath.Join(data, versionCacheName), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cache names another release badly", data: true, want: "3.7.11", runs: 2, steps: func(t *testing.T, bin, data, postconf string) {
			b, err := os.ReadFile(filepath.Join(data, versionCacheName))
			if err != nil {
				t.Fatal(err)
			}
			key, _, _ := strings.Cut(string(b), "\n")
			if err := os.WriteFile(filepath.Join(data, versionCacheName), []byte(key+"\nnot-a-version\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cache is a symlink", data: true, want: "3.7.11", runs: 2, steps: func(t *testing.T, bin, data, postconf string) {
			target := filepath.Join(bin, "target")
			if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			cache := filepath.Join(data, versionCacheName)
			os.Remove(cache)
			if err := os.Symlink(target, cache); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if b, _ := os.ReadFile(target); string(b) != "keep me" {
					t.Errorf("the link's target was written: %q", b)
				}
				if fi, err := os.Lstat(cache); err != nil || fi.Mode()&os.ModeSymlink != 0 {
					t.Errorf("the cache is still a link (%v)", err)
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, data := t.TempDir(), t.TempDir()
			postconf := fakePostconf(t, bin, "3.7.11")
			dataDir := ""
			if tc.data {
				dataDir = data
			}
			v, err := installedVersion(postconf, dataDir)
			if err != nil || v.String() != "3.7.11" {
				t.Fatalf("first call: %v, %v", v, err)
			}
			tc.steps(t, bin, data, postconf)
			v, err = installedVersion(postconf, dataDir)
			if err != nil || v.String() != tc.want {
				t.Errorf("second call: %v, %v; want %s", v, err, tc.want)
			}
			if got := runs(t, bin); got != tc.runs {
				t.Errorf("postconf ran %d times, want %d", got, tc.runs)
			}
			if tc.data {
				left, _ := filepath.Glob(filepath.Join(data, versionCacheName+".*"))
				if len(left) > 0 {
					t.Errorf("temporary files left: %q", left)
				}
			}
		})
	}
	t.Run("no postconf", func(t *testing.T) {
		if _, err := installedVersion(filepath.Join(t.TempDir(), "postconf"), t.TempDir()); err == nil {
			t.Error("no error without postconf")
		}
	})
}
