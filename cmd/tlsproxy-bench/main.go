// Command tlsproxy-bench compares tlsproxy(8) binaries, ours and
// Debian 12's C one (and, with -deb13, Debian 13's), the way an operator
// would judge them, under Postfix's default settings (max_use = 100):
// CPU per full session counted over every tlsproxy process, including the
// ones master(8) reaped, with sessions arriving at a fixed rate and with 8
// at a time; full and resumed sessions per second and the session setup
// p99 (TLS 1.3 and 1.2, ECDSA P-256 and RSA-2048 certificates); the same
// with long-lived processes (max_use = 1,000,000) and with a new process
// per session (max_use = 1); bulk relay MB/s, the round-trip latency the
// proxy adds, and the resident memory of all tlsproxy processes holding
// 1,000 idle sessions (with -one-process, up to 10,000 idle sessions held
// by a single process); and for the client role (smtp(8) connection
// reuse; ours and Debian 12's only) full TLS 1.3 handshakes per second at
// 1 and 64 concurrent sessions, CPU per handshake, bulk MB/s through one
// session and memory at 1,000 idle sessions.
//
// Each binary runs as the tlsproxy service of its own loopback Postfix
// instance under its release's real master(8) (started with
// scripts/pfinstance.sh, same main.cf apart from paths). The bench plays
// postscreen(8) of Postfix 3.6+ on the tlsproxy socket and the remote SMTP
// client (Go crypto/tls) on the passed TCP socket, and for the client role
// smtp(8) (the -postfix release's request, flags 6, and its TLS context)
// and the remote SMTP server (Go crypto/tls, ECDSA P-256, no session
// tickets); every figure is measured for each binary in turn, A B C A B C.
// It prints a table and writes JSON and an SVG chart. It must run as root
// (private/ is mode 0700, master runs as root).
//
//	tlsproxy-bench -ours ./tlsproxy [-c /usr/lib/postfix/sbin/tlsproxy]
//	               [-deb13 /var/lib/tlsproxy-test/trixie] [-quick]
//	               [-json bench.json] [-svg bench.svg]
//
// scripts/bench.sh builds everything and runs it with the defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tlsproxy/internal/bench"
	"tlsproxy/internal/pfversion"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(bench.WorkerEnv) != "" {
		if err := bench.RunIdleWorker(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tlsproxy-bench idle worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tlsproxy-bench:", err)
		os.Exit(1)
	}
}

// run parses the flags, runs the comparison and writes the outputs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlsproxy-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ours := fs.String("ours", "", "our tlsproxy binary (required)")
	c := fs.String("c", "/usr/lib/postfix/sbin/tlsproxy", `Debian's tlsproxy; "" measures ours only`)
	deb13 := fs.String("deb13", "", `a Debian 13 tree (scripts/debian13.sh) whose Postfix and C tlsproxy are measured too; "" : not measured`)
	script := fs.String("pfinstance", "scripts/pfinstance.sh", "the instance script")
	quick := fs.Bool("quick", false, "a short run with few figures (CI)")
	workDir := fs.String("dir", "", "work directory for instances and certificates, kept afterwards (default: a new one under /tmp, removed afterwards)")
	jsonOut := fs.String("json", "", "write the report as JSON here")
	svgOut := fs.String("svg", "", "write the chart as SVG here")
	rounds := fs.Int("rounds", 0, "A B rounds per figure (default 3, quick 1)")
	hsDur := fs.Duration("hs-time", 0, "time per handshake measurement (default 2s, quick 0.5s)")
	version := fs.String("postfix", bench.DefaultVersion.String(), "the Postfix release whose postscreen(8) the bench plays")
	only := fs.String("only", "", "run only the steps whose name matches this regular expression")
	idle := fs.String("idle", "", "idle session counts, comma-separated (default 1000, quick 200)")
	cidle := fs.String("client-idle", "", "idle client-role session counts, comma-separated (default 1000, quick 200)")
	one := fs.Int("one-process", 0, "also measure this many idle sessions held by one tlsproxy process (opened one after another; slow for the C tlsproxy); -1: 10,000 or the most the open-files limit allows")
	chroot := fs.Bool("chroot", false, "run every tlsproxy chrooted to the queue directory, as Debian's master.cf does (\"y\" in the chroot column)")
	pause := fs.Duration("pause", 0, "wait this long after the instances have started (to attach a profiler to their masters)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ours == "" {
		return errors.New("-ours is required")
	}
	opt := bench.DefaultOptions(*quick)
	opt.Ours, opt.C, opt.Log = *ours, *c, stderr
	opt.Chroot = *chroot
	if *rounds > 0 {
		opt.Rounds = *rounds
	}
	if *hsDur > 0 {
		opt.HSDur = *hsDur
	}
	opt.Pause = *pause
	var err error
	if *idle != "" {
		if opt.Idle, err = counts(*idle); err != nil {
			return fmt.Errorf("-idle: %w", err)
		}
	}
	if *cidle != "" {
		if opt.CIdle, err = counts(*cidle); err != nil {
			return fmt.Errorf("-client-idle: %w", err)
		}
	}
	switch {
	case *one < 0:
		opt.OneProcess, _ = bench.OneProcessSessions()
	default:
		opt.OneProcess = *one
	}
	if opt.Version, err = pfversion.Parse(*version); err != nil {
		return fmt.Errorf("-postfix: %w", err)
	}
	if *only != "" {
		if opt.Only, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-only: %w", err)
		}
	}
	for _, p := range []*string{ours, c, script} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	opt.Ours, opt.C, opt.Script = *ours, *c, *script
	if *deb13 != "" {
		if opt.Root13, err = filepath.Abs(*deb13); err != nil {
			return err
		}
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "tlsproxy-bench" {
		opt.Exe = exe // idle workers are this binary again
	}
	if *workDir == "" {
		d, err := os.MkdirTemp("/tmp", "tlsproxy-bench.")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*workDir = d
	}
	// postfix must be able to reach the instance directories.
	if err := os.MkdirAll(*workDir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(*workDir, 0o755); err != nil {
		return err
	}
	opt.WorkDir = *workDir

	t0 := time.Now()
	rep, err := bench.Run(ctx, opt)
	if err != nil {
		return err
	}
	c13 := ""
	if rep.C13 != "" {
		c13 = "; C Deb13 in " + rep.C13
	}
	fmt.Fprintf(stdout, "tlsproxy-bench: %s\nours %s; C %s%s; %s; %.0f s\n\n%s", rep.Machine, rep.Ours, orNone(rep.C), c13, rep.Go, time.Since(t0).Seconds(), rep.Table())
	if *jsonOut != "" {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, rep.SVG(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// counts parses a comma-separated list of positive counts.
func counts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "(not measured)"
	}
	return s
}
