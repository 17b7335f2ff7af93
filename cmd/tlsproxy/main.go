// Command tlsproxy is a drop-in replacement for Postfix's tlsproxy(8): the
// daemon that does TLS on behalf of postscreen(8) (server role). master(8)
// starts it from master.cf:
//
//	tlsproxy  unix  -  -  y  -  0  tlsproxy
//
// It reads main.cf (tlsproxy_tls_* parameters, which default to the
// smtpd_tls_* ones), loads certificates and keys while still root, enters
// the chroot jail and drops to mail_owner, then serves plaintext clients
// on the socket master passes as fd 6 until master goes away, max_idle or
// max_use says so.
//
// The start-up follows Postfix's event_server(3) order: options, main.cf,
// logging, parameter checks, chdir(queue_directory), pre-jail TLS set-up,
// jail, serve.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/daemon"
	"tlsproxy/internal/jail"
	"tlsproxy/internal/libcrypto"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/maillog"
	"tlsproxy/internal/master"
	"tlsproxy/internal/proxy"
	"tlsproxy/internal/tlsconf"
	"tlsproxy/internal/tlspolicy"
)

// exitFunc is the only way out of the process (tests replace it).
var exitFunc = os.Exit

func main() {
	if versionRequested(os.Args) { // version.go
		fmt.Print(versionText(debug.ReadBuildInfo()))
		return
	}
	setProcs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS)
	exitFunc(run(os.Args, os.Environ(), os.Stderr))
}

// setProcs lets the process run Go code on half the CPUs it may use (at
// least one) unless the environment says otherwise (GOMAXPROCS, passed
// with import_environment in main.cf). tlsproxy shares the machine with
// postscreen, smtpd and the rest of Postfix, like the C tlsproxy, which
// runs on one CPU; on the measured 2-CPU machine one thread for Go code
// costs 4 – 14 % less CPU per handshake than two (fewer idle threads
// spinning and waking each other) at the same handshake rate, and master
// starts more tlsproxy processes when one is busy.
func setProcs(fromEnv string, gomaxprocs func(int) int) {
	if fromEnv != "" {
		return // the Go runtime has read it
	}
	gomaxprocs(max(1, gomaxprocs(0)/2))
}

// env looks a variable up in an environment list.
func env(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// run is the whole program; it returns the exit status.
func run(args []string, environ []string, stderr io.Writer) int {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGXFSZ)
	process := filepath.Base(args[0])

	// Until main.cf says where logs go, problems go to stderr in the
	// -V format, and to syslog under the default tag.
	early := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(stderr, "postfix/%s: fatal: %s\n", process, msg)
		if l, err := maillog.Open(maillog.Options{Ident: "postfix/" + process, Facility: "mail"}); err == nil {
			l.Fatalf("%s", msg)
			_ = l.Close()
		}
		return 1
	}

	opts, err := master.ParseArgs(args[1:])
	if err != nil {
		return early("%v", err)
	}
	if err := opts.Check(master.IsTTY(0)); err != nil {
		return early("%v", err)
	}

	confDir := env(environ, "MAIL_CONFIG")
	if confDir == "" {
		confDir = "/etc/postfix"
	}
	var warnings []string
	cfg, err := conf.Load(confDir, opts.Overrides, logs.Lines(func(w string) { warnings = append(warnings, w) }))
	if err != nil {
		return early("%v", err)
	}
	useInstalledDefaults(cfg)
	if err := tlsconf.CheckMaillogFile(cfg); err != nil {
		return early("%v", err)
	}

	log, err := openLog(cfg, process, environ, opts, stderr)
	if log == nil {
		return early("%v", err)
	}
	defer log.Close()
	if err != nil {
		// The log socket is missing: the logger writes to stderr.
		log.Warnf("%v", err)
	}
	fatal := func(format string, a ...any) int {
		log.Fatalf(format, a...)
		return 1
	}
	for _, w := range warnings {
		log.Warnf("%s", w)
	}
	log.SetVerbose(opts.Verbose)

	service := opts.Service
	if service == "" {
		service = process
	}
	// Parameters first, as Postfix loads its tables before it checks
	// the process limit.
	p, err := loadParams(cfg, opts)
	if err != nil {
		return fatal("%v", err)
	}
	// tlsproxy 3.4+ serves any number of clients in one process and
	// insists on an unlimited process limit.
	if !opts.Unlimited {
		return fatal("service %s requires a process limit of 0", service)
	}
	if opts.Standalone {
		// An event server has nothing to do with a single stdin
		// connection; Postfix's returns at once as well.
		return 0
	}
	gen, err := master.Generation(env(environ, "GENERATION"))
	if err != nil {
		return fatal("%v", err)
	}
	if err := master.CheckFDs(opts.Sockets); err != nil {
		return fatal("%v", err)
	}
	if err := os.Chdir(p.queueDir); err != nil {
		return fatal("chdir(\"%s\"): %v", p.queueDir, err)
	}

	// Pre-jail: certificates and keys are read as root.
	if mask, _ := tlspolicy.ParseLogLevel(p.server.LogLevel); mask&tlspolicy.LogVerbose != 0 {
		log.Infof("initializing the server-side TLS engine")
	}
	srvTLS, err := tlspolicy.NewServer(p.server, log)
	if err != nil {
		return fatal("%v", err)
	}

	tablesChanged, err := sniSetup(cfg, srvTLS, log)
	if err != nil {
		return fatal("%v", err)
	}
	tickets, err := tlsmgrSetup(cfg, srvTLS, log)
	if err != nil {
		return fatal("%v", err)
	}
	cli, err := clientRole(cfg, log)
	if err != nil {
		return fatal("%v", err)
	}
	gens, from, err := generations(cfg, environ, log)
	if err != nil {
		return fatal("%v", err)
	}
	if opts.Verbose > 0 {
		log.Infof("expecting Postfix %v clients (%s)", gens.Expect, from)
	}
	tlspolicy.SetRelease(logRelease(cfg, gens))
	// Handshake failures in the words of the OpenSSL release this
	// process runs with: the system's libcrypto, that of Postfix's own
	// tlsproxy (a pure-Go build has none and keeps OpenSSL 3.0's).
	tlspolicy.SetOpenSSLVersion(libcrypto.Describe())

	// Jail: setgid, setgroups, chroot, chdir("/"), setuid.
	spec := jail.Spec{}
	if opts.Unprivileged {
		spec.User = p.mailOwner
	}
	if opts.Chroot {
		spec.Chroot = p.queueDir
		// Only tls_append_default_CA makes the system's CAs needed
		// (by a server context made for a request, after the chroot).
		spec.SystemRoots, _ = cfg.Bool("tls_append_default_CA")
	}
	if err := jail.Enter(spec); err != nil {
		return fatal("%v", err)
	}

	ln, err := master.Listener(master.ListenFD)
	if err != nil {
		return fatal("%v", err)
	}
	statusFile := os.NewFile(master.StatusFD, "master status")
	d := &daemon.Daemon{
		Listener:   ln,
		Status:     master.NewStatus(statusFile, int32(os.Getpid()), gen),
		MasterGone: master.WatchMaster(statusFile),
		Log:        log,
		MaxIdle:    p.maxIdle,
		MaxUse:     p.maxUse,
		HandOver:   handOver,
		Retire:     p.retire,
		TrimAfter:  trimAfter,
		Watchdog:   p.watchdog,
		OnWatchdog: func() { _ = log.Close(); exitFunc(1) },
		Changed:    tablesChanged,
	}
	srv := &proxy.Server{TLS: srvTLS, Client: cli.client, ClientInit: cli.init, NewClient: cli.newClient, Log: log,
		Generations: gens, Service: service, Tickets: tickets, TicketScope: p.server.Scope(),
		Params: tlsconf.WireParams(cfg), ServerInit: serverInit(p.server, srvTLS), NewServer: requestServer(p.server, log)}
	d.Handle = func(_ context.Context, c *os.File, done func()) { srv.Start(c, done) }

	// SIGTERM (postfix stop, or a service removed from master.cf) ends
	// the process at once, as the default action does for Postfix.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = log.Close()
		exitFunc(0)
	}()

	if _, err := d.Run(context.Background()); err != nil {
		return fatal("%v", err)
	}
	return 0
}

// handOver is how long a process that reached max_use goes on accepting
// while master starts the next one (see daemon.Daemon.HandOver): several
// times a start's 12 ms, so that a connection arriving meanwhile does not
// wait for it.
const handOver = 100 * time.Millisecond

// trimAfter is the quiet time after which a process returns the memory
// that its handshakes used to the kernel (see daemon.Daemon.TrimAfter).
const trimAfter = time.Second

// openLog connects the logger as main.cf says: postlogd(8) when
// maillog_file is set, else syslog; -V copies every line to stderr.
func openLog(cfg *conf.Config, process string, environ []string, opts master.Options, stderr io.Writer) (*maillog.Logger, error) {
	name, err := cfg.Str("syslog_name")
	if err != nil {
		return nil, err
	}
	facility, err := cfg.Str("syslog_facility")
	if err != nil {
		return nil, err
	}
	host, err := cfg.Str("myhostname")
	if err != nil {
		return nil, err
	}
	ident := maillog.Ident(name, process, func(k string) string { return env(environ, k) })
	o := maillog.Options{Ident: ident, Facility: facility, Hostname: host}
	if file, _ := cfg.Str("maillog_file"); file != "" {
		o.Postlog = env(environ, "POSTLOG_SERVICE")
		if o.Postlog == "" {
			qdir, _ := cfg.Str("queue_directory")
			svc, _ := cfg.Str("postlog_service_name")
			o.Postlog = filepath.Join(qdir, "public", svc)
		}
	}
	if opts.Stderr {
		o.Stderr = stderr
	}
	return maillog.Open(o)
}

// params are the process-level settings read once at start-up.
type params struct {
	queueDir, mailOwner string
	maxIdle, retire     time.Duration
	watchdog            time.Duration
	maxUse              int
	server              tlspolicy.ServerSettings
}
