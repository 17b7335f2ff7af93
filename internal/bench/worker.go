package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"tlsproxy/internal/pfversion"
)

// Idle workers hold idle sessions in a separate process when the bench's
// own descriptor limit is too small for all of them. The parent starts the
// bench binary again with WorkerEnv set; the worker talks to it in lines:
//
//	worker → parent  held N ERRORS "FIRST-ERROR"   (all sessions opened)
//	parent → worker  alive                         (check every session)
//	worker → parent  alive N
//	parent closes the worker's stdin: the worker closes its sessions and exits.

// WorkerEnv, when set in the environment, makes cmd/tlsproxy-bench run
// RunIdleWorker instead of a comparison.
const WorkerEnv = "TLSPROXY_BENCH_IDLE_WORKER"

// RunIdleWorker is the worker's side of the protocol above.
func RunIdleWorker(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("idle-worker", flag.ContinueOnError)
	socket := fs.String("socket", "", "tlsproxy socket")
	n := fs.Int("n", 0, "sessions to hold")
	conc := fs.Int("conc", 16, "sessions opened at once")
	version := fs.String("version", DefaultVersion.String(), "Postfix release of the emulated postscreen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, err := pfversion.Parse(*version)
	if err != nil {
		return err
	}
	if *socket == "" || *n <= 0 || *conc <= 0 {
		return fmt.Errorf("idle worker: need -socket, -n > 0 and -conc > 0")
	}
	d := &Dialer{Opener: Postscreen{Socket: *socket, Version: v, Timeout: stepTimeout}, TLS: clientTLS(tls.VersionTLS13), Timeout: stepTimeout}
	h := Hold(ctx, d, *n, *conc)
	defer h.Close()
	first := ""
	if h.FirstErr != nil {
		first = h.FirstErr.Error()
	}
	if _, err := fmt.Fprintf(out, "held %d %d %s\n", len(h.Sessions), h.Errors, strconv.Quote(first)); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "alive" {
			if _, err := fmt.Fprintf(out, "alive %d\n", h.Alive(ctx, 16, stepTimeout)); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// idleWorker is the parent's handle on one worker process.
type idleWorker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

func startIdleWorker(ctx context.Context, exe, socket string, v pfversion.Version, n, conc int) (*idleWorker, error) {
	cmd := exec.CommandContext(ctx, exe, "-socket", socket, "-version", v.String(),
		"-n", strconv.Itoa(n), "-conc", strconv.Itoa(max(conc, 1)))
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start idle worker: %w", err)
	}
	return &idleWorker{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}, nil
}

func (w *idleWorker) line(want string) ([]string, error) {
	if !w.lines.Scan() {
		return nil, fmt.Errorf("idle worker ended early: %v", w.lines.Err())
	}
	f := strings.SplitN(w.lines.Text(), " ", 4)
	if f[0] != want {
		return nil, fmt.Errorf("idle worker said %q, want %q", w.lines.Text(), want)
	}
	return f[1:], nil
}

// ParseHeld parses the fields of a "held" line.
func ParseHeld(f []string) (held, errs int, first string, err error) {
	if len(f) != 3 {
		return 0, 0, "", fmt.Errorf("held line: %d fields", len(f))
	}
	if held, err = strconv.Atoi(f[0]); err != nil {
		return
	}
	if errs, err = strconv.Atoi(f[1]); err != nil {
		return
	}
	first, err = strconv.Unquote(f[2])
	return
}

func (w *idleWorker) waitHeld() (held, errs int, first string, err error) {
	f, err := w.line("held")
	if err != nil {
		return 0, 0, "", err
	}
	return ParseHeld(f)
}

func (w *idleWorker) alive() (int, error) {
	if _, err := io.WriteString(w.stdin, "alive\n"); err != nil {
		return 0, err
	}
	f, err := w.line("alive")
	if err != nil {
		return 0, err
	}
	if len(f) != 1 {
		return 0, fmt.Errorf("alive line: %d fields", len(f))
	}
	return strconv.Atoi(f[0])
}

// close ends the worker (its sessions close with it) and reaps it.
func (w *idleWorker) close() {
	w.stdin.Close()
	_ = w.cmd.Wait()
}
