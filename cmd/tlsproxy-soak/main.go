// Command tlsproxy-soak drives SMTP sessions with STARTTLS through a real
// Postfix postscreen(8), which hands every TLS session to the instance's
// tlsproxy(8), for a chosen time, and reports what the proxy went
// through: sessions served, bytes relayed, errors by kind, and the
// tlsproxy processes' resident memory and descriptor count over time.
//
// Each worker loops: connect to postscreen, wait for the full greeting,
// EHLO, STARTTLS, a verified TLS handshake, EHLO again, then a random
// number of NOOP commands carrying random-size padding (postscreen answers
// each with 250; postscreen_command_count_limit caps a session at 20
// commands), QUIT. Every reply inside TLS is checked, so a lost, altered or
// injected byte shows up as an error.
//
//	tlsproxy-soak -instance DIR [-duration 10m] [-concurrency 8]
//	tlsproxy-soak -tlsproxy ./tlsproxy [-script scripts/pfinstance.sh] ...
//
// With -instance it uses a running scripts/pfinstance.sh instance (its
// DIR/instance.env); otherwise it starts one whose tlsproxy is the
// -tlsproxy binary and stops it at the end (root and Debian's postfix
// required). -json FILE also writes the report as JSON ("-": stdout). The
// exit status is 1 when a session failed or tlsproxy logged a fatal error
// or panic. scripts/soak.sh builds and runs it.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	duration, interval  time.Duration
	concurrency, maxPad int
	instance, tlsproxy  string
	script, jsonOut     string
}

// target is what a session needs to know about the instance.
type target struct {
	addr    string         // postscreen's address
	roots   *x509.CertPool // the instance's self-signed certificate
	confDir string         // MAIL_CONFIG of its processes
	log     string         // its maillog
}

// Sample is one look at the tlsproxy processes.
type Sample struct {
	Seconds  float64 `json:"t"`
	Sessions int64   `json:"sessions"`
	Procs    int     `json:"procs"`
	RSSKiB   int64   `json:"rss_kib"`
	FDs      int     `json:"fds"`
}

// Report is the outcome of a soak run.
type Report struct {
	Seconds     float64          `json:"seconds"`
	Concurrency int              `json:"concurrency"`
	Sessions    int64            `json:"sessions"`
	Failed      int64            `json:"failed"`
	BytesUp     int64            `json:"bytes_up"`   // client to postscreen, inside TLS
	BytesDown   int64            `json:"bytes_down"` // postscreen to client, inside TLS
	Errors      map[string]int64 `json:"errors"`
	Samples     []Sample         `json:"samples"`
	LogWarnings int              `json:"log_warnings"`
	LogFatal    int              `json:"log_fatal"` // fatal: and panic: records of tlsproxy
	LogHSFailed int              `json:"log_handshake_failed"`
	mu          sync.Mutex
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("tlsproxy-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to run")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "how often to sample the tlsproxy processes")
	fs.IntVar(&o.concurrency, "concurrency", 8, "sessions at once (postscreen allows 50 per client)")
	fs.IntVar(&o.maxPad, "maxpad", 1900, "largest NOOP padding (line_length_limit is 2048)")
	fs.StringVar(&o.instance, "instance", "", "directory of a running scripts/pfinstance.sh instance")
	fs.StringVar(&o.tlsproxy, "tlsproxy", "", "tlsproxy binary for a new instance (without -instance)")
	fs.StringVar(&o.script, "script", "scripts/pfinstance.sh", "pfinstance.sh, to start a new instance")
	fs.StringVar(&o.jsonOut, "json", "", `also write the report as JSON to this file ("-": stdout)`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.concurrency < 1 || o.duration <= 0 || o.interval <= 0 || o.maxPad < 0 || o.maxPad > 2000 {
		fmt.Fprintln(stderr, "tlsproxy-soak: bad -concurrency, -duration, -interval or -maxpad")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir := o.instance
	if dir == "" {
		if o.tlsproxy == "" {
			fmt.Fprintln(stderr, "tlsproxy-soak: need -instance DIR or -tlsproxy BIN")
			return 2
		}
		var err error
		if dir, err = startInstance(ctx, o); err != nil {
			fmt.Fprintf(stderr, "tlsproxy-soak: %v\n", err)
			return 1
		}
		defer func() {
			if out, err := exec.Command("bash", o.script, "stop", dir).CombinedOutput(); err != nil {
				fmt.Fprintf(stderr, "tlsproxy-soak: stopping %s: %v\n%s", dir, err, out)
			}
		}()
	}
	tg, err := loadTarget(dir)
	if err != nil {
		fmt.Fprintf(stderr, "tlsproxy-soak: %v\n", err)
		return 1
	}
	rep := soak(ctx, o, tg, stdout)
	rep.print(stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if o.jsonOut == "-" {
			_, err = stdout.Write(b)
		} else {
			err = os.WriteFile(o.jsonOut, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "tlsproxy-soak: %v\n", err)
			return 1
		}
	}
	if rep.Failed > 0 || rep.LogFatal > 0 || rep.Sessions == 0 {
		return 1
	}
	return 0
}

// startInstance runs pfinstance.sh start in a new directory under /tmp.
func startInstance(ctx context.Context, o options) (string, error) {
	bin, err := filepath.Abs(o.tlsproxy)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("/tmp", "tlsproxy-soak-")
	if err != nil {
		return "", err
	}
	ports, err := freePorts(3)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", o.script, "start", dir, "--tlsproxy", bin, "--ports", strings.Join(ports, ","))
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s start: %v\n%s", o.script, err, out)
	}
	return dir, nil
}

// freePorts finds n distinct free loopback ports (all held open until
// all are found, then released for Postfix to bind).
func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// loadTarget reads DIR/instance.env.
func loadTarget(dir string) (*target, error) {
	data, err := os.ReadFile(filepath.Join(dir, "instance.env"))
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	pemData, err := os.ReadFile(env["PF_CERT"])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("no certificate in %s", env["PF_CERT"])
	}
	return &target{addr: "127.0.0.1:" + env["PF_POSTSCREEN_PORT"], roots: roots,
		confDir: env["PF_CONFIG_DIR"], log: env["PF_LOG"]}, nil
}

// soak runs the workers for o.duration and samples the processes.
func soak(ctx context.Context, o options, tg *target, progress io.Writer) *Report {
	rep := &Report{Concurrency: o.concurrency, Errors: map[string]int64{}}
	logStart := fileSize(tg.log)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				up, down, kind := session(tg, rnd, o.maxPad)
				rep.add(up, down, kind)
			}
		}()
	}
	sampleNow := func() {
		s := sampleProcs(tg.confDir)
		s.Seconds = time.Since(start).Seconds()
		rep.mu.Lock()
		s.Sessions = rep.Sessions
		rep.Samples = append(rep.Samples, s)
		rep.mu.Unlock()
		fmt.Fprintf(progress, "soak: %6.0fs  %6d sessions  %2d tlsproxy  %8d KiB  %5d fds\n",
			s.Seconds, s.Sessions, s.Procs, s.RSSKiB, s.FDs)
	}
	sampleNow()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			sampleNow()
		case <-ctx.Done():
			break loop
		}
	}
	wg.Wait() // sessions in progress finish (each has its own 60 s limit)
	sampleNow()
	rep.Seconds = time.Since(start).Seconds()
	rep.scanLog(tg.log, logStart)
	return rep
}

func (r *Report) add(up, down int64, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.BytesUp += up
	r.BytesDown += down
	if kind == "" {
		r.Sessions++
		return
	}
	r.Failed++
	r.Errors[kind]++
}

// counter counts the bytes that pass through an io.ReadWriter.
type counter struct {
	rw       io.ReadWriter
	up, down int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.rw.Read(b)
	c.down += int64(n)
	return n, err
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.rw.Write(b)
	c.up += int64(n)
	return n, err
}

const padChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.,"

// session runs one SMTP session with STARTTLS; it returns the bytes moved
// inside TLS and "" or the kind of error ("phase: what").
func session(tg *target, rnd *rand.Rand, maxPad int) (up, down int64, kind string) {
	phase := "connect"
	fail := func(err error) (int64, int64, string) { return up, down, phase + ": " + classify(err) }
	c, err := net.DialTimeout("tcp4", tg.addr, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return fail(err)
	}
	r := bufio.NewReader(c)
	var w io.Writer = c
	cmd := func(line string, want int) ([]string, error) {
		if line != "" {
			if _, err := io.WriteString(w, line+"\r\n"); err != nil {
				return nil, err
			}
		}
		return reply(r, want)
	}
	phase = "greeting"
	if _, err := cmd("", 220); err != nil {
		return fail(err)
	}
	phase = "ehlo"
	if _, err := cmd("EHLO soak.test", 250); err != nil {
		return fail(err)
	}
	phase = "starttls"
	if _, err := cmd("STARTTLS", 220); err != nil {
		return fail(err)
	}
	if r.Buffered() > 0 {
		return fail(errors.New("plaintext after the STARTTLS reply"))
	}
	phase = "handshake"
	tc := tls.Client(c, &tls.Config{RootCAs: tg.roots, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		return fail(err)
	}
	cnt := &counter{rw: tc}
	defer func() { up, down = cnt.up, cnt.down }()
	r, w = bufio.NewReader(cnt), cnt
	phase = "ehlo in tls"
	if _, err := cmd("EHLO soak.test", 250); err != nil {
		return fail(err)
	}
	phase = "noop"
	for range 1 + rnd.IntN(15) { // with EHLO, STARTTLS, EHLO, QUIT: at most 19 commands
		pad := make([]byte, rnd.IntN(maxPad+1))
		for i := range pad {
			pad[i] = padChars[rnd.IntN(len(padChars))]
		}
		if _, err := cmd("NOOP "+string(pad), 250); err != nil {
			return fail(err)
		}
	}
	phase = "quit"
	if _, err := cmd("QUIT", 221); err != nil {
		return fail(err)
	}
	_ = tc.Close()
	return cnt.up, cnt.down, ""
}

// errReply is a reply with an unexpected code.
type errReply struct{ lines []string }

func (e errReply) Error() string { return fmt.Sprintf("reply %q", e.lines) }

// reply reads one SMTP reply and checks its code.
func reply(r *bufio.Reader, want int) ([]string, error) {
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			return lines, errReply{lines}
		}
		if line[3] == ' ' {
			if code, err := strconv.Atoi(line[:3]); err != nil || code != want {
				return lines, errReply{lines}
			}
			return lines, nil
		}
	}
}

// classify names an error for the "errors by kind" table.
func classify(err error) string {
	var ne net.Error
	var re errReply
	switch {
	case errors.As(err, &re):
		return "unexpected reply"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return "tls alert"
	}
	return "other: " + err.Error()
}

// sampleProcs sums VmRSS and open descriptors of the tlsproxy processes
// whose MAIL_CONFIG is confDir.
func sampleProcs(confDir string) Sample {
	var s Sample
	want := "MAIL_CONFIG=" + confDir
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		comm, err := os.ReadFile(p + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "tlsproxy" {
			continue
		}
		env, err := os.ReadFile(p + "/environ")
		if err != nil || !containsVar(env, want) {
			continue
		}
		s.Procs++
		s.RSSKiB += rssKiB(p + "/status")
		if fds, err := os.ReadDir(p + "/fd"); err == nil {
			s.FDs += len(fds)
		}
	}
	return s
}

func containsVar(environ []byte, v string) bool {
	for _, e := range strings.Split(string(environ), "\x00") {
		if e == v {
			return true
		}
	}
	return false
}

func rssKiB(status string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// scanLog counts tlsproxy's warnings, fatal errors, panics and handshake
// failures in the maillog written since offset.
func (r *Report) scanLog(path string, offset int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "/tlsproxy[") {
			continue
		}
		switch {
		case strings.Contains(line, "]: warning: "):
			r.LogWarnings++
		case strings.Contains(line, "]: fatal: "), strings.Contains(line, "]: panic: "):
			r.LogFatal++
		case strings.Contains(line, "TLS handshake failed"):
			r.LogHSFailed++
		}
	}
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "soak: %.0f s, %d at once: %d sessions served (%.1f/s), %d failed\n",
		r.Seconds, r.Concurrency, r.Sessions, float64(r.Sessions)/max(r.Seconds, 1), r.Failed)
	fmt.Fprintf(w, "soak: bytes relayed inside TLS: %d up, %d down\n", r.BytesUp, r.BytesDown)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "soak: errors by kind: none")
	} else {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "soak: error %-40s %d\n", k, r.Errors[k])
		}
	}
	if n := len(r.Samples); n > 0 {
		first, last := r.Samples[0], r.Samples[n-1]
		peak := first
		for _, s := range r.Samples {
			if s.RSSKiB > peak.RSSKiB {
				peak = s
			}
		}
		fmt.Fprintf(w, "soak: tlsproxy processes %d -> %d, RSS %d -> %d KiB (peak %d), fds %d -> %d\n",
			first.Procs, last.Procs, first.RSSKiB, last.RSSKiB, peak.RSSKiB, first.FDs, last.FDs)
	}
	fmt.Fprintf(w, "soak: tlsproxy log: %d warnings, %d fatal/panic, %d handshake failures\n",
		r.LogWarnings, r.LogFatal, r.LogHSFailed)
}
