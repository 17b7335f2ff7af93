package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionRequested(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"tlsproxy", "--version"}, true},
		{[]string{"tlsproxy"}, false},
		{[]string{"tlsproxy", "-l", "-t", "unix", "-u", "-c"}, false},
		{[]string{"tlsproxy", "--version", "-v"}, false}, // master's parsing rejects it
		{[]string{"tlsproxy", "-v", "--version"}, false},
		{[]string{"tlsproxy", "-version"}, false},
	}
	for _, tc := range tests {
		if got := versionRequested(tc.args); got != tc.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestVersionText(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name   string
		info   *debug.BuildInfo
		ok     bool
		commit string
		want   []string
	}{
		{"vcs", info, true, "", []string{"commit: 0123456789abcdef0123456789abcdef01234567 (modified)\n"}},
		{"vcs wins over ldflags", info, true, "fedcba", []string{"commit: 0123456789abcdef0123456789abcdef01234567 (modified)\n"}},
		{"ldflags only", &debug.BuildInfo{}, true, "fedcba", []string{"commit: fedcba\n"}},
		{"nothing", nil, false, "", []string{"commit: unknown\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			saved := commit
			commit = tc.commit
			defer func() { commit = saved }()
			got := versionText(tc.info, tc.ok)
			want := append(tc.want, "tlsproxy (Go re-implementation of Postfix's tlsproxy) "+release+"\n",
				"go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n", "crypto: ")
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("version text lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
