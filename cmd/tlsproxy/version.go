package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"tlsproxy/internal/libcrypto"
)

// release is this build's release name, and commit the source commit
// for builds whose VCS information go build could not record (the build
// info's vcs.revision wins); scripts/deb.sh sets both with -ldflags -X.
var (
	release = "dev"
	commit  = ""
)

// versionRequested reports whether the command line is exactly
// "tlsproxy --version". master(8) never passes a long option, and any
// other use of the option keeps master's option parsing (which rejects it).
func versionRequested(args []string) bool {
	return len(args) == 2 && args[1] == "--version"
}

// versionText says which build this is: release, the source commit
// (recorded by go build's -buildvcs), the Go release, and whether the
// private-key operations run in libcrypto or in Go.
func versionText(info *debug.BuildInfo, ok bool) string {
	rev, modified := commit, ""
	if rev == "" {
		rev = "unknown"
	}
	if ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	crypto := "pure Go"
	if libcrypto.Available() {
		crypto = "libcrypto: " + libcrypto.Describe()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tlsproxy (Go re-implementation of Postfix's tlsproxy) %s\n", release)
	fmt.Fprintf(&b, "commit: %s%s\n", rev, modified)
	fmt.Fprintf(&b, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "crypto: %s\n", crypto)
	return b.String()
}
