package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"tlsproxy/internal/pfversion"
)

// Options control a comparison run.
type Options struct {
	Script string // scripts/pfinstance.sh
	Ours   string // our tlsproxy binary
	C      string // Debian's tlsproxy; "" measures ours only
	// Root13 is a Debian 13 tree (scripts/debian13.sh; "": not
	// measured): its C tlsproxy runs under its own master(8), in an
	// instance that Script starts with --root.
	Root13  string
	WorkDir string        // instances and certificates go here
	Rounds  int           // A B rounds per figure
	HSDur   time.Duration // one handshake measurement
	BulkDur time.Duration // one bulk measurement
	Pings   int           // round trips per latency measurement
	Idle    []int         // idle session counts for the memory figure
	// OneProcess is how many idle sessions one tlsproxy process must
	// hold (0: no such figure); see OneProcessSessions.
	OneProcess int
	CIdle      []int          // the same for client-role sessions
	Quick      bool           // fewer figures (CI)
	Exe        string         // binary to re-run as an idle worker; "" = in-process only
	PortBase   int            // first port to try for the instances' listeners
	Only       *regexp.Regexp // run only the steps whose name matches; nil: all
	// Pause is how long to wait after the instances have started, e.g.
	// to attach perf stat -p to their masters (see the "started" lines).
	Pause   time.Duration
	Version pfversion.Version // the Postfix release whose postscreen the bench plays
	Chroot  bool              // tlsproxy runs chrooted, as in Debian's master.cf
	Log     io.Writer         // progress lines
}

// DefaultOptions are the README's full run, or the CI quick mode.
func DefaultOptions(quick bool) Options {
	if quick {
		return Options{Rounds: 1, HSDur: 500 * time.Millisecond, BulkDur: 500 * time.Millisecond,
			Pings: 200, Idle: []int{200}, CIdle: []int{200}, Quick: true, PortBase: 10480, Version: DefaultVersion}
	}
	return Options{Rounds: 3, HSDur: 2 * time.Second, BulkDur: 1500 * time.Millisecond,
		Pings: 2000, Idle: []int{1000}, CIdle: []int{1000}, PortBase: 10480, Version: DefaultVersion}
}

// OneProcessSessions is how many idle sessions one tlsproxy process is
// asked to hold: 10,000, or fewer when the hard open-files limit (which
// master and tlsproxy inherit from the bench) cannot give a process two
// descriptors per session plus some for itself. It also returns that
// limit.
func OneProcessSessions() (int, uint64) {
	const want, spare = 10000, 100
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0
	}
	if lim.Max >= 2*want+spare {
		return want, lim.Max
	}
	if lim.Max <= spare {
		return 0, lim.Max
	}
	return int(lim.Max-spare) / 2 / 100 * 100, lim.Max
}

// Timeouts the bench's client side uses: postscreen waits 10 s for
// tlsproxy; a handshake or round trip that takes longer is a failure.
const stepTimeout = 10 * time.Second

// sessionsPerProcess bounds the idle sessions one bench process holds: each
// needs two descriptors here (the plaintext socket and the client's TCP
// socket), and the descriptor limit is often 20,000 and not raisable.
const sessionsPerProcess = 2500

// target is one implementation with one instance per certificate type.
type target struct {
	name string // "ours", "C" or "C13"
	who  Impl
	inst map[string]*Instance
}

// step is one measurement, run once per round for each target.
type step struct {
	name string
	cert string
	// notC13: the step does not apply to Debian 13's tlsproxy (the
	// client role's request changes with every Postfix minor release,
	// and the bench plays one release's smtp(8)).
	notC13 bool
	rounds int // 0: Options.Rounds
	run    func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error)
}

type runner struct {
	opt   Options
	rep   *Report
	certs map[string]CertFiles
	pairs map[string]tls.Certificate
}

func (r *runner) logf(format string, a ...any) {
	if r.opt.Log != nil {
		fmt.Fprintf(r.opt.Log, format+"\n", a...)
	}
}

// clientTLS is the remote client: Go's crypto/tls, one protocol version,
// classic key exchange only (X25519, P-256) as Debian 12's OpenSSL 3.0
// clients offer, no certificate check (the certificates are self-signed).
func clientTLS(version uint16) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         version,
		MaxVersion:         version,
		CurvePreferences:   []tls.CurveID{tls.X25519, tls.CurveP256},
	}
}

func (r *runner) dialer(in *Instance, version uint16) *Dialer {
	return &Dialer{
		Opener:  Postscreen{Socket: in.Socket, Version: r.opt.Version, Timeout: stepTimeout},
		TLS:     clientTLS(version),
		Timeout: stepTimeout,
	}
}

// serverTLS is the remote SMTP server of the client role: Go's crypto/tls
// with the bench's ECDSA P-256 certificate, TLS 1.3, X25519 or P-256 (so
// that both implementations do the same key exchange whatever else they
// offer), and no session tickets, so that every handshake is a full one.
func serverTLS(pair tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:           []tls.Certificate{pair},
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		CurvePreferences:       []tls.CurveID{tls.X25519, tls.CurveP256},
		SessionTicketsDisabled: true,
	}
}

// smtpDialer opens client-role sessions: the bench plays smtp(8) on the
// tlsproxy socket and the remote server on the TCP socket.
func smtpDialer(socket string, v pfversion.Version, logLevel string, pair tls.Certificate) *Dialer {
	return &Dialer{
		Opener:  SMTP{Socket: socket, Version: v, LogLevel: logLevel, Timeout: stepTimeout},
		Server:  serverTLS(pair),
		Timeout: stepTimeout,
	}
}

func (r *runner) smtpDialer(in *Instance) *Dialer {
	return smtpDialer(in.Socket, r.opt.Version, in.SMTPLogLevel, r.pairs[ECDSA])
}

var versions = []struct {
	v    uint16
	name string
}{{tls.VersionTLS13, "1.3"}, {tls.VersionTLS12, "1.2"}}

var certNames = map[string]string{ECDSA: "ECDSA P-256", RSA: "RSA-2048"}

// Services of an instance a step can use.
const (
	svcDefault = iota // "tlsproxy": Postfix's defaults (max_use = 100, max_idle = 100s)
	svcLong           // "tlsproxy-long": max_use = 1,000,000, max_idle = 3600s
	svcOnce           // "tlsproxy-once": max_use = 1
)

// socket is the instance's socket of service svc.
func socket(in *Instance, svc int) string {
	switch svc {
	case svcLong:
		return in.LongSocket
	case svcOnce:
		return in.OnceSocket
	}
	return in.Socket
}

// svcTitle is what a figure's title says about the service's settings.
var svcTitle = map[int]string{svcDefault: "", svcLong: ", max_use=1e6", svcOnce: ", new process each (max_use=1)"}

// plan lists the steps in the order they run, and defines their figures.
// The headline figures come first: Postfix's default settings (max_use =
// 100: master starts a new tlsproxy process every 100 sessions, and its
// start-up counts), RSA-2048, TLS 1.3, 8 sessions at a time.
func (r *runner) plan() []step {
	var steps []step
	rep := r.rep
	hs := func(ver, cert string, c, svc int) {
		v := tls.VersionTLS13
		if ver == "1.2" {
			v = tls.VersionTLS12
		}
		key := fmt.Sprintf("%s/%s/c%d", ver, cert, c)
		switch svc {
		case svcLong:
			key = "long/" + key
		case svcOnce:
			key = "once/" + key
		}
		what := fmt.Sprintf("TLS %s, %s, %d conc.%s", ver, certNames[cert], c, svcTitle[svc])
		rep.Define(Figure{Key: "cpu/" + key, Title: "CPU per full session, all tlsproxy processes, " + what,
			Unit: "µs", Better: Lower, Goal: 0.8})
		rep.Define(Figure{Key: "hs/" + key, Title: "full sessions/s, " + what, Unit: "hs/s", Better: Higher, Goal: 1.2})
		rep.Define(Figure{Key: "setup/" + key, Title: "session setup p99, " + what, Unit: "ms", Better: Lower, Goal: 0.9})
		steps = append(steps, step{name: "handshakes " + key, cert: cert, run: r.handshakes(key, cert, uint16(v), c, false, svc)})
	}
	resCert := RSA
	if r.opt.Quick {
		resCert = ECDSA
	}
	res := func(ver string, c, svc int) {
		v := tls.VersionTLS13
		if ver == "1.2" {
			v = tls.VersionTLS12
		}
		key := fmt.Sprintf("%s/c%d", ver, c)
		if svc == svcLong {
			key = "long/" + key
		}
		what := fmt.Sprintf("TLS %s, %d conc.%s", ver, c, svcTitle[svc])
		rep.Define(Figure{Key: "rescpu/" + key, Title: "CPU per resumed session (ticket), all tlsproxy processes, " + what,
			Unit: "µs", Better: Lower, Goal: 0.8})
		rep.Define(Figure{Key: "res/" + key, Title: "resumed sessions/s (ticket), " + what, Unit: "hs/s", Better: Higher, Goal: 1.2})
		rep.Define(Figure{Key: "ressetup/" + key, Title: "resumed session setup p99, " + what, Unit: "ms", Better: Lower, Goal: 0.9})
		steps = append(steps, step{name: "resumed " + key, cert: resCert, run: r.handshakes(key, resCert, uint16(v), c, true, svc)})
	}
	paced := func(cert string, rate int) {
		key := fmt.Sprintf("paced/1.3/%s/%d", cert, rate)
		what := fmt.Sprintf("TLS 1.3, %s, %d sessions/s arriving", certNames[cert], rate)
		rep.Define(Figure{Key: "cpu/" + key, Title: "CPU per full session, all tlsproxy processes, " + what,
			Unit: "µs", Better: Lower, Goal: 0.8})
		rep.Define(Figure{Key: "setup/" + key, Title: "session setup p99, " + what, Unit: "ms", Better: Lower, Goal: 0.9})
		steps = append(steps, step{name: "paced " + key, cert: cert, run: r.paced(key, float64(rate))})
	}
	if r.opt.Quick {
		hs("1.3", ECDSA, 8, svcDefault)
		res("1.3", 8, svcDefault)
	} else {
		// Headline: Postfix's defaults.
		paced(RSA, 200)
		hs("1.3", RSA, 8, svcDefault)
		res("1.3", 8, svcDefault)
		hs("1.3", ECDSA, 8, svcDefault)
		hs("1.2", RSA, 8, svcDefault)
		hs("1.2", ECDSA, 8, svcDefault)
		hs("1.3", RSA, 1, svcDefault)
		hs("1.3", RSA, 64, svcDefault)
		res("1.2", 8, svcDefault)
		// Long-lived processes: no start-up in the figures.
		hs("1.3", RSA, 8, svcLong)
		hs("1.3", ECDSA, 8, svcLong)
		res("1.3", 8, svcLong)
		// A new process for every session: what a process start costs.
		hs("1.3", RSA, 1, svcOnce)
		hs("1.3", ECDSA, 1, svcOnce)
	}
	bulkN, dirs := []int{1, 64}, []Direction{Inbound, Outbound}
	if r.opt.Quick {
		bulkN, dirs = []int{1}, []Direction{Inbound}
	}
	for _, dir := range dirs {
		for _, n := range bulkN {
			key := fmt.Sprintf("bulk/%s/%d", dir, n)
			rep.Define(Figure{Key: key, Title: fmt.Sprintf("bulk relay, %s, %d session(s), TLS 1.3", dir, n),
				Unit: "MB/s", Better: Higher, Goal: 1})
			steps = append(steps, step{name: key, cert: ECDSA, run: r.bulk(key, n, dir)})
		}
	}
	rep.Define(Figure{Key: "lat/p50", Title: "added round-trip latency, p50 (SMTP-sized, TLS 1.3)", Unit: "µs", Better: Lower, Goal: 1})
	rep.Define(Figure{Key: "lat/p99", Title: "added round-trip latency, p99 (SMTP-sized, TLS 1.3)", Unit: "µs", Better: Lower, Goal: 1})
	steps = append(steps, step{name: "latency", cert: ECDSA, run: r.latency})
	for _, n := range r.opt.Idle {
		steps = append(steps, r.idleStep(n, false))
	}
	if n := r.opt.OneProcess; n > 0 {
		// All sessions in one tlsproxy process (see idleOne).
		rep.Define(Figure{Key: fmt.Sprintf("one/mem/%d", n), Title: fmt.Sprintf("RSS per idle session, %s sessions in one process", Num(float64(n))),
			Unit: "KiB", Better: Lower, Goal: 0.5})
		rep.Define(Figure{Key: fmt.Sprintf("one/alive/%d", n), Title: fmt.Sprintf("idle sessions held and alive by one process, of %s", Num(float64(n))),
			Unit: "sessions", Better: Higher, Goal: 1})
		if _, hard := OneProcessSessions(); n < 10000 {
			rep.Note(fmt.Sprintf("one/alive/%d", n), fmt.Sprintf("not 10,000: a session takes two descriptors, and the hard open-files limit here is %d (raising it needs CAP_SYS_RESOURCE)", hard))
		}
		steps = append(steps, step{name: fmt.Sprintf("one process idle %d", n), cert: ECDSA, rounds: 1, run: r.idleOne(n)})
	}

	// Client role (smtp(8) with connection reuse): the bench plays smtp and
	// the remote TLS server. The instance's certificate type does not
	// matter here; the remote server's is ECDSA P-256.
	cconcs := []int{1, 64}
	if r.opt.Quick {
		cconcs = []int{8}
	}
	for _, c := range cconcs {
		key := fmt.Sprintf("1.3/c%d", c)
		rep.Define(Figure{Key: "client/hs/" + key, Title: fmt.Sprintf("client role: full handshakes, TLS 1.3, %d conc.", c),
			Unit: "hs/s", Better: Higher, Goal: 1})
		rep.Define(Figure{Key: "client/cpu/" + key, Title: fmt.Sprintf("client role: CPU per full handshake, TLS 1.3, %d conc.", c),
			Unit: "µs", Better: Lower, Goal: 1})
		steps = append(steps, step{name: "client handshakes " + key, cert: ECDSA, notC13: true, run: r.clientHandshakes(key, c)})
	}
	rep.Define(Figure{Key: "client/bulk/outbound/1", Title: "client role: bulk relay, outbound, 1 session(s), TLS 1.3",
		Unit: "MB/s", Better: Higher, Goal: 1})
	steps = append(steps, step{name: "client bulk/outbound/1", cert: ECDSA, notC13: true, run: r.clientBulk})
	for _, n := range r.opt.CIdle {
		steps = append(steps, r.idleStep(n, true))
	}
	return steps
}

// idleStep defines the memory and liveness figures of n idle sessions
// (of the client role when client is set) and returns their step.
func (r *runner) idleStep(n int, client bool) step {
	key, title, name := "", "", "idle"
	if client {
		key, title, name = "client/", "client role: ", "client idle"
	}
	r.rep.Define(Figure{Key: fmt.Sprintf("%smemall/%d", key, n), Title: fmt.Sprintf("%sRSS of all tlsproxy processes, %s idle sessions", title, Num(float64(n))),
		Unit: "MB", Better: Lower, Goal: 0.5})
	r.rep.Define(Figure{Key: fmt.Sprintf("%smem/%d", key, n), Title: fmt.Sprintf("%sRSS per idle session above the first process's, %s sessions", title, Num(float64(n))),
		Unit: "KiB", Better: Lower, Goal: 0.5})
	r.rep.Define(Figure{Key: fmt.Sprintf("%salive/%d", key, n), Title: fmt.Sprintf("%sidle sessions held and alive, of %s", title, Num(float64(n))),
		Unit: "sessions", Better: Higher, Goal: 1})
	// Large idle runs take long (C tlsproxy opens sessions ever more
	// slowly as it holds more): one round of A B.
	rounds := 0
	if n > 2*sessionsPerProcess {
		rounds = 1
	}
	return step{name: fmt.Sprintf("%s %d", name, n), cert: ECDSA, rounds: rounds, notC13: client, run: r.idle(n, client)}
}

// Run starts the instances, runs every step for each target alternately
// (ours, C, ours, C, …) and returns the summarised report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	start := time.Now()
	r := &runner{opt: opt, rep: &Report{
		Started: start.UTC(), Machine: machine(), Go: runtime.Version(),
		Ours: opt.Ours, C: opt.C, C13: opt.Root13, Rounds: opt.Rounds, Quick: opt.Quick,
	}}
	var steps []step
	for _, st := range r.plan() {
		if opt.Only == nil || opt.Only.MatchString(st.name) {
			steps = append(steps, st)
		}
	}
	targets, stop, err := r.start(ctx)
	defer stop()
	if err != nil {
		return nil, err
	}
	if opt.Pause > 0 {
		r.logf("pausing %v", opt.Pause)
		sleepCtx(ctx, opt.Pause)
	}
	rounds := func(st step) int {
		if st.rounds > 0 {
			return min(st.rounds, opt.Rounds)
		}
		return opt.Rounds
	}
	total := 0
	for _, st := range steps {
		for _, tg := range targets {
			if !st.notC13 || tg.who != C13 {
				total += rounds(st)
			}
		}
	}
	n := 0
	for _, st := range steps {
		for round := 1; round <= rounds(st); round++ {
			for _, tg := range targets {
				if st.notC13 && tg.who == C13 {
					continue
				}
				n++
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				t0 := time.Now()
				msg, err := st.run(ctx, r, tg, tg.inst[st.cert])
				if err != nil {
					return nil, fmt.Errorf("%s, %s, round %d: %w", st.name, tg.name, round, err)
				}
				r.logf("[%d/%d] %-4s %-28s %s (%.1fs)", n, total, tg.name, st.name, msg, time.Since(t0).Seconds())
			}
		}
	}
	r.rep.Seconds = time.Since(start).Seconds()
	r.rep.Summarise()
	return r.rep, nil
}

// start writes the certificates and starts one instance per target and
// certificate type, all with the same main.cf apart from paths.
func (r *runner) start(ctx context.Context) ([]*target, func(), error) {
	var targets []*target
	stop := func() {
		for _, tg := range targets {
			for _, in := range tg.inst {
				sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := in.Stop(sctx); err != nil {
					r.logf("stopping %s: %v", in.Dir, err)
				}
				cancel()
			}
		}
	}
	tlsDir := filepath.Join(r.opt.WorkDir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, stop, err
	}
	r.certs, r.pairs = map[string]CertFiles{}, map[string]tls.Certificate{}
	for _, kind := range []string{ECDSA, RSA} {
		cf, err := WriteCert(tlsDir, kind)
		if err != nil {
			return nil, stop, err
		}
		pair, err := tls.LoadX509KeyPair(cf.Cert, cf.Key)
		if err != nil {
			return nil, stop, err
		}
		r.certs[kind], r.pairs[kind] = cf, pair
	}
	bins := []struct {
		name, path, script string
		who                Impl
	}{{"ours", r.opt.Ours, r.opt.Script, Ours}, {"C", r.opt.C, r.opt.Script, C12}, {"C13", "", r.opt.Script, C13}}
	if r.opt.Root13 != "" {
		bins[2].path = filepath.Join(r.opt.Root13, "usr/lib/postfix/sbin/tlsproxy")
	}
	certs := []string{ECDSA, RSA}
	if r.opt.Quick {
		certs = []string{ECDSA}
	}
	var specs []InstanceSpec
	var owners []*target
	for _, b := range bins {
		if b.path == "" {
			continue
		}
		tg := &target{name: b.name, who: b.who, inst: map[string]*Instance{}}
		targets = append(targets, tg)
		for _, cert := range certs {
			dir := filepath.Join(r.opt.WorkDir, b.name+"-"+cert)
			root := ""
			if b.who == C13 { // inside the tree, where its Postfix can see it
				root = r.opt.Root13
				dir = filepath.Join(root, "tmp", filepath.Base(r.opt.WorkDir), b.name+"-"+cert)
				if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
					return nil, stop, err
				}
				if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
					return nil, stop, err
				}
			}
			spec := InstanceSpec{
				Script: b.script, Dir: dir, Root: root,
				TLSProxy: b.path, Main: mainCF, Cert: r.certs[cert], Once: true, Long: true,
				Chroot: r.opt.Chroot,
			}
			specs = append(specs, spec)
			owners = append(owners, tg)
		}
	}
	ports, err := FreePorts(r.opt.PortBase, 3*len(specs))
	if err != nil {
		return nil, stop, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range specs {
		specs[i].Ports = [3]int{ports[3*i], ports[3*i+1], ports[3*i+2]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			in, err := StartInstance(sctx, specs[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			cert := strings.TrimPrefix(filepath.Base(specs[i].Dir), owners[i].name+"-")
			owners[i].inst[cert] = in
			r.logf("started %s (master %d, tlsproxy %s)", in.Dir, in.MasterPID, specs[i].TLSProxy)
		}()
	}
	wg.Wait()
	return targets, stop, errors.Join(errs...)
}

// mainCF is the bench's part of main.cf: nothing, so that the tlsproxy
// service runs with Postfix's defaults (max_use = 100, max_idle = 100s), as
// operators run it; the long-lived and one-session services override
// max_use and max_idle in master.cf. The certificate (RSA or ECDSA, one
// per instance, so that both implementations sign with the same key type)
// is smtpd_tls_cert_file, see StartInstance.
var mainCF []string

// warm makes sure the instance has a tlsproxy process and that it has
// done one session, so that start-up costs stay out of the figures.
func warm(d *Dialer) error {
	ln, err := Listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	s, err := d.Open(ln, nil)
	if err != nil {
		return fmt.Errorf("warm-up session: %w", err)
	}
	defer s.Close()
	return s.Ping(pingMsg, pingReply, make([]byte, 256), stepTimeout)
}

func (r *runner) handshakes(key, cert string, version uint16, conc int, resume bool, svc int) func(context.Context, *runner, *target, *Instance) (string, error) {
	return func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error) {
		d := r.dialer(in, version)
		sock := socket(in, svc)
		if sock == "" {
			return "", fmt.Errorf("the instance has no service %s", svcTitle[svc])
		}
		d.Opener = Postscreen{Socket: sock, Version: r.opt.Version, Timeout: stepTimeout}
		if svc != svcOnce {
			if err := warm(d); err != nil {
				return "", err
			}
		}
		logAt := in.LogSize()
		res, err := Handshakes(ctx, d, in.MasterPID, conc, r.opt.HSDur, resume)
		if err != nil {
			return "", err
		}
		rate, cpu, setup := "hs/", "cpu/", "setup/"
		if resume {
			rate, cpu, setup = "res/", "rescpu/", "ressetup/"
		}
		p99 := Percentile(Micros(res.Setup), 99) / 1000
		r.rep.AddFor(rate+key, tg.who, res.Rate())
		r.rep.AddFor(cpu+key, tg.who, float64(res.CPUPerSession())/float64(time.Microsecond))
		r.rep.AddFor(setup+key, tg.who, p99)
		r.checkLoad(cpu+key, tg, res, cert, version, resume)
		return progress(res, "hs/s", "hs", in.LogPIDs(logAt)), nil
	}
}

// progress is the progress line of a handshake run that procs processes
// served: rate, CPU per session (ours, and the load client's), where the
// p99 that the table keeps sits among the other setup times, and the
// counts. rate and per name the units ("hs/s", "hs").
func progress(res LoadResult, rate, per string, procs int) string {
	us := Micros(res.Setup)
	ms := func(p float64) float64 { return Percentile(us, p) / 1000 }
	var load time.Duration
	if res.Sessions > 0 {
		load = res.LoadCPU / time.Duration(res.Sessions)
	}
	return fmt.Sprintf("%s %s, %s µs CPU/%s (load client %s), setup p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f ms, "+
		"%d sessions in %d processes, %d errors",
		Num(res.Rate()), rate, Num(float64(res.CPUPerSession())/1e3), per, Num(float64(load)/1e3),
		ms(50), ms(90), ms(99), ms(99.9), res.Sessions, procs, res.Errors)
}

// paced measures sessions arriving at rate per second, for twice the
// handshake time, on the default service (see Paced).
func (r *runner) paced(key string, rate float64) func(context.Context, *runner, *target, *Instance) (string, error) {
	return func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error) {
		d := r.dialer(in, tls.VersionTLS13)
		if err := warm(d); err != nil {
			return "", err
		}
		logAt := in.LogSize()
		res, err := Paced(ctx, d, in.MasterPID, rate, 2*r.opt.HSDur)
		if err != nil {
			return "", err
		}
		p99 := Percentile(Micros(res.Setup), 99) / 1000
		r.rep.AddFor("cpu/"+key, tg.who, float64(res.CPUPerSession())/float64(time.Microsecond))
		r.rep.AddFor("setup/"+key, tg.who, p99)
		r.checkLoad("cpu/"+key, tg, res, RSA, tls.VersionTLS13, false)
		return progress(res, "sessions/s", "session", in.LogPIDs(logAt)), nil
	}
}

// checkLoad notes anything that makes a handshake figure suspect.
func (r *runner) checkLoad(key string, tg *target, res LoadResult, cert string, version uint16, resume bool) {
	if res.Sessions == 0 {
		r.rep.Note(key, fmt.Sprintf("%s completed no session: %v", tg.name, res.FirstErr))
		return
	}
	if res.Errors > 0 {
		r.rep.Note(key, fmt.Sprintf("%s: %d failed sessions, first: %v", tg.name, res.Errors, res.FirstErr))
	}
	if len(res.Others) > 0 {
		r.rep.Note(key, fmt.Sprintf("%s: other daemons of the instance ended during the run (%s); their CPU is in the figure", tg.name, strings.Join(res.Others, ", ")))
	}
	if resume && res.Resumed < res.Sessions*99/100 {
		r.rep.Note(key, fmt.Sprintf("%s resumed only %d of %d sessions", tg.name, res.Resumed, res.Sessions))
	}
	if cert != "" && !isCertKind(res.State, cert) {
		r.rep.Note(key, fmt.Sprintf("%s did not serve the %s certificate", tg.name, certNames[cert]))
	}
	if v := res.State.Version; v != 0 && v != version {
		r.rep.Note(key, fmt.Sprintf("%s negotiated %s", tg.name, tls.VersionName(v)))
	}
}

// warmClient is warm for the client role; when it fails (tlsproxy
// refused the request, or no handshake completed) the error carries the
// instance's last tlsproxy log lines, which say why.
func warmClient(d *Dialer, in *Instance) error {
	if err := warm(d); err != nil {
		return fmt.Errorf("%w\nlast tlsproxy lines of %s:\n%s", err, in.Log, strings.Join(in.LogTail("tlsproxy", 12), "\n"))
	}
	return nil
}

func (r *runner) clientHandshakes(key string, conc int) func(context.Context, *runner, *target, *Instance) (string, error) {
	return func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error) {
		d := r.smtpDialer(in)
		if err := warmClient(d, in); err != nil {
			return "", err
		}
		res, err := Handshakes(ctx, d, in.MasterPID, conc, r.opt.HSDur, false)
		if err != nil {
			return "", err
		}
		r.rep.AddFor("client/hs/"+key, tg.who, res.Rate())
		r.rep.AddFor("client/cpu/"+key, tg.who, float64(res.CPUPerSession())/float64(time.Microsecond))
		r.checkLoad("client/hs/"+key, tg, res, "", tls.VersionTLS13, false)
		if res.Resumed > 0 {
			r.rep.Note("client/hs/"+key, fmt.Sprintf("%s resumed %d of %d sessions", tg.name, res.Resumed, res.Sessions))
		}
		if g := res.State.CurveID; g != 0 && g != tls.X25519 {
			r.rep.Note("client/hs/"+key, fmt.Sprintf("%s negotiated %v", tg.name, g))
		}
		return fmt.Sprintf("%s hs/s, %s µs CPU/hs, %d errors, %v", Num(res.Rate()), Num(float64(res.CPUPerSession())/1e3), res.Errors, res.State.CurveID), nil
	}
}

func (r *runner) clientBulk(ctx context.Context, _ *runner, tg *target, in *Instance) (string, error) {
	d := r.smtpDialer(in)
	if err := warmClient(d, in); err != nil {
		return "", err
	}
	res, err := Bulk(ctx, d, in.MasterPID, 1, Outbound, r.opt.BulkDur)
	if err != nil {
		return "", err
	}
	r.rep.AddFor("client/bulk/outbound/1", tg.who, res.MBps())
	return fmt.Sprintf("%s MB/s, tlsproxy CPU %.2f s", Num(res.MBps()), res.CPU.Seconds()), nil
}

func (r *runner) bulk(key string, n int, dir Direction) func(context.Context, *runner, *target, *Instance) (string, error) {
	return func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error) {
		d := r.dialer(in, tls.VersionTLS13)
		res, err := Bulk(ctx, d, in.MasterPID, n, dir, r.opt.BulkDur)
		if err != nil {
			return "", err
		}
		r.rep.AddFor(key, tg.who, res.MBps())
		return fmt.Sprintf("%s MB/s, tlsproxy CPU %.2f s", Num(res.MBps()), res.CPU.Seconds()), nil
	}
}

// latency measures round trips through the proxy and, right before, the
// same round trips on a direct TLS connection; the figures are the
// differences of the percentiles.
func (r *runner) latency(ctx context.Context, _ *runner, tg *target, in *Instance) (string, error) {
	d := r.dialer(in, tls.VersionTLS13)
	pair := r.pairs[ECDSA]
	direct, err := DirectLatency(ctx, &tls.Config{Certificates: []tls.Certificate{pair}}, clientTLS(tls.VersionTLS13), r.opt.Pings, stepTimeout)
	if err != nil {
		return "", fmt.Errorf("direct baseline: %w", err)
	}
	proxied, err := Latency(ctx, d, r.opt.Pings)
	if err != nil {
		return "", err
	}
	dx, px := Micros(direct), Micros(proxied)
	add50 := Percentile(px, 50) - Percentile(dx, 50)
	add99 := Percentile(px, 99) - Percentile(dx, 99)
	r.rep.AddFor("lat/p50", tg.who, add50)
	r.rep.AddFor("lat/p99", tg.who, add99)
	return fmt.Sprintf("p50 %s µs (direct %s), p99 %s µs (direct %s)",
		Num(Percentile(px, 50)), Num(Percentile(dx, 50)), Num(Percentile(px, 99)), Num(Percentile(dx, 99))), nil
}

// idle measures resident memory per idle session (client-role sessions
// if client) on fresh tlsproxy processes: the old ones are ended first, so
// that memory left over from earlier steps does not hide (or inflate) the
// cost of the sessions.
func (r *runner) idle(n int, client bool) func(context.Context, *runner, *target, *Instance) (string, error) {
	prefix := ""
	if client {
		prefix = "client/"
	}
	return r.idleOn(n, client, prefix, false)
}

// idleOne is idle with every session in one tlsproxy process: the
// sessions are opened strictly one after another, so that master(8),
// which starts another process only when a connection waits while none
// is free, keeps to one. (tlsproxy refuses a process limit other than 0,
// as Postfix's does.)
func (r *runner) idleOne(n int) func(context.Context, *runner, *target, *Instance) (string, error) {
	return r.idleOn(n, false, "one/", true)
}

// idleOn is idle; sequential opens the sessions one after another, also
// across idle workers.
func (r *runner) idleOn(n int, client bool, prefix string, sequential bool) func(context.Context, *runner, *target, *Instance) (string, error) {
	return func(ctx context.Context, r *runner, tg *target, in *Instance) (string, error) {
		if err := in.Restart(ctx); err != nil {
			return "", err
		}
		d := r.dialer(in, tls.VersionTLS13)
		warmUp := warm
		if client {
			d = r.smtpDialer(in)
			warmUp = func(d *Dialer) error { return warmClient(d, in) }
		}
		if err := warmUp(d); err != nil {
			return "", err
		}
		before, err := Snapshot(in.MasterPID)
		if err != nil {
			return "", err
		}
		for pid := range before.Procs {
			if lim := fdLimit(pid); lim != "" {
				r.rep.Note(fmt.Sprintf("%salive/%d", prefix, n), fmt.Sprintf("%s tlsproxy open-files limit (soft hard): %s", tg.name, lim))
			}
		}
		held, errs, firstErr, alive, after, err := r.holdAndMeasure(ctx, in, d, n, sequential)
		if err != nil {
			return "", err
		}
		memKey, aliveKey := fmt.Sprintf("%smem/%d", prefix, n), fmt.Sprintf("%salive/%d", prefix, n)
		if held > 0 {
			perSession := float64(after.RSS()-before.RSS()) / 1024 / float64(held)
			r.rep.AddFor(fmt.Sprintf("%smemall/%d", prefix, n), tg.who, float64(after.RSS())/1e6)
			r.rep.AddFor(memKey, tg.who, perSession)
		}
		r.rep.AddFor(aliveKey, tg.who, float64(alive))
		if errs > 0 {
			r.rep.Note(aliveKey, fmt.Sprintf("%s: %d sessions could not be opened, first: %v", tg.name, errs, firstErr))
		}
		if held < n {
			r.rep.Note(memKey, fmt.Sprintf("%s: per session of the %d sessions it held", tg.name, held))
		}
		if len(after.Procs) > 1 {
			r.rep.Note(fmt.Sprintf("%smemall/%d", prefix, n), fmt.Sprintf("%s: %d tlsproxy processes", tg.name, len(after.Procs)))
		}
		return fmt.Sprintf("held %d, alive %d, RSS %.1f → %.1f MB", held, alive, float64(before.RSS())/1e6, float64(after.RSS())/1e6), nil
	}
}

// holdAndMeasure opens n idle sessions with d (in this process, or spread
// over idle workers when one process has too few descriptors), waits for the
// proxy to settle, reads its memory, checks every session still works and
// closes them all.
//
// Sessions are opened one at a time (per bench process): when connections
// queue up, master(8) starts further tlsproxy processes, and the base
// memory of each would be charged to the sessions.
func (r *runner) holdAndMeasure(ctx context.Context, in *Instance, d *Dialer, n int, sequential bool) (held, errs int, firstErr error, alive int, after Usage, err error) {
	const conc = 1
	settle := 2 * time.Second
	if r.opt.Quick {
		settle = 300 * time.Millisecond
	}
	if n <= sessionsPerProcess || r.opt.Exe == "" {
		h := Hold(ctx, d, n, conc)
		defer h.Close()
		sleepCtx(ctx, settle)
		if after, err = Snapshot(in.MasterPID); err != nil {
			return
		}
		return len(h.Sessions), h.Errors, h.FirstErr, h.Alive(ctx, 16, stepTimeout), after, ctx.Err()
	}
	workers := (n + sessionsPerProcess - 1) / sessionsPerProcess
	var ws []*idleWorker
	defer func() {
		for _, w := range ws {
			w.close()
		}
	}()
	collect := func(w *idleWorker) error {
		h, e, first, werr := w.waitHeld()
		if werr != nil {
			return werr
		}
		held, errs = held+h, errs+e
		if firstErr == nil && first != "" {
			firstErr = errors.New(first)
		}
		return nil
	}
	for i := range workers {
		share := n / workers
		if i < n%workers {
			share++
		}
		args := workerArgs{socket: in.Socket, version: r.opt.Version, n: share, conc: conc}
		if d.Server != nil {
			args.logLevel, args.cert = in.SMTPLogLevel, r.certs[ECDSA]
		}
		w, werr := startIdleWorker(ctx, r.opt.Exe, args)
		if werr != nil {
			err = werr
			return
		}
		ws = append(ws, w)
		if sequential {
			if err = collect(w); err != nil {
				return
			}
		}
	}
	if !sequential {
		for _, w := range ws {
			if err = collect(w); err != nil {
				return
			}
		}
	}
	sleepCtx(ctx, settle)
	if after, err = Snapshot(in.MasterPID); err != nil {
		return
	}
	for _, w := range ws {
		a, werr := w.alive()
		if werr != nil {
			err = werr
			return
		}
		alive += a
	}
	return held, errs, firstErr, alive, after, ctx.Err()
}

// fdLimit returns the "Max open files" soft and hard limits of a process.
func fdLimit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0] + " " + f[1]
			}
		}
	}
	return ""
}

// machine describes the host for the report.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d CPUs, Linux %s", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
}

// isCertKind reports the key type of the certificate a session was
// served, for checks.
func isCertKind(cs tls.ConnectionState, kind string) bool {
	if len(cs.PeerCertificates) == 0 {
		return false
	}
	alg := cs.PeerCertificates[0].PublicKeyAlgorithm
	return (kind == ECDSA && alg == x509.ECDSA) || (kind == RSA && alg == x509.RSA)
}
