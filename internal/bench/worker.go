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
	version := fs.String("version", DefaultVersion.String(), "Postfix release of the emulated postscreen or smtp")
	cert := fs.String("server-cert", "", "client role: the remote server's certificate (PEM); empty: server role")
	key := fs.String("server-key", "", "client role: the remote server's key (PEM)")
	logLevel := fs.String("log-level", "", "client role: smtp_tls_loglevel for the request's init props")
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
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return fmt.Errorf("idle worker: %w", err)
		}
		d = smtpDialer(*socket, v, *logLevel, pair)
	}
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

// workerArgs say what one idle worker holds; a certificate makes its
// sessions client-role ones with that remote server certificate.
type workerArgs struct {
	socket   string
	version  pfversion.Version
	n, conc  int
	cert     CertFiles
	logLevel string
}

func (a workerArgs) flags() []string {
	f := []string{"-socket", a.socket, "-version", a.version.String(),
		"-n", strconv.Itoa(a.n), "-conc", strconv.Itoa(max(a.conc, 1))}
	if a.cert.Cert != "" {
		f = append(f, "-server-cert", a.cert.Cert, "-server-key", a.cert.Key, "-log-level", a.logLevel)
	}
	return f
}

func startIdleWorker(ctx context.Context, exe string, args workerArgs) (*idleWorker, error) {
	cmd := exec.CommandContext(ctx, exe, args.flags()...)
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
