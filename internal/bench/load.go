package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxLoops bounds every load loop in addition to its time limit.
const maxLoops = 10_000_000

// LoadResult is the outcome of one handshake run.
type LoadResult struct {
	Sessions int             // completed: handshake and one Ping
	Resumed  int             // of those, resumed from a session ticket
	Errors   int             // sessions that failed
	FirstErr error           // the first failure, for the report
	Elapsed  time.Duration   // from start to the end of the last session
	CPU      time.Duration   // CPU time of every tlsproxy process over the run, ended ones too
	Others   []string        // master's other children that ended (their CPU is counted too)
	Setup    []time.Duration // per completed session: request, descriptor, handshake
	// LoadCPU is the bench's own CPU time over the run: the load client
	// (postscreen's end and the remote client) on the same machine.
	LoadCPU time.Duration
	State   tls.ConnectionState
}

// Rate is completed sessions per second.
func (r LoadResult) Rate() float64 { return float64(r.Sessions) / r.Elapsed.Seconds() }

// CPUPerSession is tlsproxy CPU per completed session.
func (r LoadResult) CPUPerSession() time.Duration {
	if r.Sessions == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Sessions)
}

// errs collects failures from many goroutines.
type errs struct {
	mu    sync.Mutex
	n     int
	first error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.first == nil {
		e.first = err
	}
}

// Handshakes opens, pings and closes sessions with conc goroutines until
// dur has passed; every goroutine finishes the session it is in. With
// resume, each goroutine first makes one full handshake to get a ticket
// (not counted) and then resumes from its own session cache.
func Handshakes(ctx context.Context, d *Dialer, masterPID, conc int, dur time.Duration, resume bool) (LoadResult, error) {
	lns := make([]*net.TCPListener, conc)
	cfgs := make([]*tls.Config, conc)
	defer func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}()
	var fail errs
	for i := range conc {
		ln, err := Listen()
		if err != nil {
			return LoadResult{}, err
		}
		lns[i] = ln
		cfgs[i] = d.TLS.Clone()
		if resume {
			cfgs[i].ClientSessionCache = tls.NewLRUClientSessionCache(4)
			if _, _, err := d.pingOnce(ln, cfgs[i], make([]byte, 256)); err != nil { // reads the ticket
				return LoadResult{}, fmt.Errorf("priming session ticket: %w", err)
			}
		}
	}

	before, err := Snapshot(masterPID)
	if err != nil {
		return LoadResult{}, err
	}
	var (
		done, resumed atomic.Int64
		state         atomic.Pointer[tls.ConnectionState]
		wg            sync.WaitGroup
		setupMu       sync.Mutex
		setup         []time.Duration
	)
	start := time.Now()
	stop := start.Add(dur)
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			var mine []time.Duration
			defer func() {
				setupMu.Lock()
				setup = append(setup, mine...)
				setupMu.Unlock()
			}()
			for n := 0; n < maxLoops && time.Now().Before(stop) && ctx.Err() == nil; n++ {
				took, cs, err := d.pingOnce(lns[i], cfgs[i], buf)
				if err != nil {
					fail.add(err)
					continue
				}
				done.Add(1)
				mine = append(mine, took)
				if cs.DidResume {
					resumed.Add(1)
				}
				if n == 0 {
					state.Store(&cs)
				}
			}
		}()
	}
	wg.Wait()
	r, err := measured(masterPID, before, time.Since(start), state.Load(), LoadResult{
		Sessions: int(done.Load()), Resumed: int(resumed.Load()),
		Errors: fail.n, FirstErr: fail.first, Setup: setup,
	})
	if err != nil {
		return LoadResult{}, err
	}
	return r, ctx.Err()
}

// pingOnce opens a session on ln with cfg, pings it through buf and
// closes it: its setup time (Open's) and connection state, or the error
// that ended it.
func (d *Dialer) pingOnce(ln *net.TCPListener, cfg *tls.Config, buf []byte) (time.Duration, tls.ConnectionState, error) {
	t0 := time.Now()
	s, err := d.Open(ln, cfg)
	took := time.Since(t0)
	if err != nil {
		return took, tls.ConnectionState{}, err
	}
	defer s.Close()
	if err := s.Ping(pingMsg, pingReply, buf, d.Timeout); err != nil {
		return took, tls.ConnectionState{}, err
	}
	return took, s.Conn.ConnectionState(), nil
}

// measured completes r, the counts of a run that took elapsed, with the
// CPU the proxy's processes used since before and the connection state
// of one session (when any completed).
func measured(masterPID int, before Usage, elapsed time.Duration, state *tls.ConnectionState, r LoadResult) (LoadResult, error) {
	after, err := Snapshot(masterPID)
	if err != nil {
		return LoadResult{}, err
	}
	r.Elapsed = elapsed
	r.CPU, _, r.Others = after.CPUSince(before)
	r.LoadCPU = after.Self - before.Self
	if state != nil {
		r.State = *state
	}
	return r, nil
}

// Direction of a bulk transfer.
type Direction int

const (
	Inbound  Direction = iota // remote client → postscreen's end (mail coming in)
	Outbound                  // postscreen's end → remote client
)

func (d Direction) String() string {
	if d == Outbound {
		return "outbound"
	}
	return "inbound"
}

// BulkResult is the outcome of one bulk run.
type BulkResult struct {
	Bytes   int64
	Elapsed time.Duration
	CPU     time.Duration
}

// MBps is throughput in 10^6 bytes per second.
func (r BulkResult) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// bulkChunk is the size of one write, a full TLS record.
const bulkChunk = 16 << 10

// Bulk opens n sessions and streams data through all of them at once in
// one direction for dur, after a short warm-up. It counts the bytes that
// arrive at the receiving ends.
func Bulk(ctx context.Context, d *Dialer, masterPID, n int, dir Direction, dur time.Duration) (BulkResult, error) {
	ln, err := Listen()
	if err != nil {
		return BulkResult{}, err
	}
	defer ln.Close()
	var ss []*Session
	defer func() {
		for _, s := range ss {
			s.Close()
		}
	}()
	for range n {
		s, err := d.Open(ln, nil)
		if err != nil {
			return BulkResult{}, err
		}
		ss = append(ss, s)
	}

	var (
		got     atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
		fail    errs
	)
	for _, s := range ss {
		var w io.Writer = s.Conn
		var r io.Reader = s.Plain
		if dir == Outbound {
			w, r = s.Plain, s.Conn
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, bulkChunk)
			for i := 0; i < maxLoops && !stopped.Load(); i++ {
				if _, err := w.Write(buf); err != nil {
					if !stopped.Load() {
						fail.add(err)
					}
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 2*bulkChunk)
			for i := 0; i < maxLoops*4; i++ {
				k, err := r.Read(buf)
				got.Add(int64(k))
				if err != nil {
					if !stopped.Load() {
						fail.add(err)
					}
					return
				}
			}
		}()
	}
	// The window starts after a warm-up in which TLS record sizes grow.
	sleepCtx(ctx, dur/10)
	before, err := Snapshot(masterPID)
	b0, t0 := got.Load(), time.Now()
	sleepCtx(ctx, dur)
	b1, t1 := got.Load(), time.Now()
	after, err2 := Snapshot(masterPID)
	stopped.Store(true)
	for _, s := range ss {
		s.Plain.SetDeadline(time.Unix(1, 0))
		s.Conn.NetConn().SetDeadline(time.Unix(1, 0))
	}
	wg.Wait()
	if err = errors.Join(err, err2); err != nil {
		return BulkResult{}, err
	}
	if fail.first != nil {
		return BulkResult{}, fmt.Errorf("%d transfer errors, first: %w", fail.n, fail.first)
	}
	cpu, _, _ := after.CPUSince(before)
	return BulkResult{Bytes: b1 - b0, Elapsed: t1.Sub(t0), CPU: cpu}, ctx.Err()
}

// sleepCtx waits for d or until ctx ends. It paces measurement windows; it
// is not used to wait for other goroutines.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Latency opens one session and times n Ping round trips through the proxy.
func Latency(ctx context.Context, d *Dialer, n int) ([]time.Duration, error) {
	ln, err := Listen()
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	s, err := d.Open(ln, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return timePings(ctx, n, func(buf []byte) error { return s.Ping(pingMsg, pingReply, buf, d.Timeout) })
}

// DirectLatency is the baseline for Latency: the same client and the same
// messages, but the TLS server is in this process on the TCP socket itself,
// without a proxy and without a second hop.
func DirectLatency(ctx context.Context, server, client *tls.Config, n int, timeout time.Duration) ([]time.Duration, error) {
	ln, err := Listen()
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	c, s, err := remotePair(ln)
	if err != nil {
		return nil, err
	}
	srv := tls.Server(s, server)
	cli := tls.Client(c, client)
	defer srv.Close()
	defer cli.Close()
	echoDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 256)
		for range n {
			if _, err := io.ReadFull(srv, buf[:len(pingMsg)]); err != nil {
				echoDone <- err
				return
			}
			if _, err := srv.Write(pingReply); err != nil {
				echoDone <- err
				return
			}
		}
		echoDone <- nil
	}()
	if err := cli.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if err := cli.Handshake(); err != nil {
		return nil, err
	}
	ds, err := timePings(ctx, n, func(buf []byte) error {
		if err := cli.SetDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		if _, err := cli.Write(pingMsg); err != nil {
			return err
		}
		_, err := io.ReadFull(cli, buf[:len(pingReply)])
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, <-echoDone
}

func timePings(ctx context.Context, n int, ping func([]byte) error) ([]time.Duration, error) {
	buf := make([]byte, 256)
	out := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := time.Now()
		if err := ping(buf); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}

// Held is a set of idle sessions kept open to measure their memory.
type Held struct {
	Sessions []*Session
	Errors   int
	FirstErr error
}

// holdGiveUp is how many sessions in a row may fail before Hold stops: a
// proxy that has run out of descriptors fails every further attempt, each
// only after a time-out.
const holdGiveUp = 5

// Hold opens n sessions with conc goroutines, each taken through its
// handshake and one Ping, and leaves them open and idle. It stops early
// after holdGiveUp failures in a row.
func Hold(ctx context.Context, d *Dialer, n, conc int) *Held {
	var (
		mu     sync.Mutex
		h      = &Held{}
		fail   errs
		next   atomic.Int64
		inARow atomic.Int64
		wg     sync.WaitGroup
	)
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln, err := Listen()
			if err != nil {
				fail.add(err)
				return
			}
			defer ln.Close()
			buf := make([]byte, 256)
			for next.Add(1) <= int64(n) && ctx.Err() == nil && inARow.Load() < holdGiveUp {
				s, err := d.Open(ln, nil)
				if err == nil {
					if err = s.Ping(pingMsg, pingReply, buf, d.Timeout); err != nil {
						s.Close()
					}
				}
				if err != nil {
					fail.add(err)
					inARow.Add(1)
					continue
				}
				inARow.Store(0)
				mu.Lock()
				h.Sessions = append(h.Sessions, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.Errors, h.FirstErr = fail.n, fail.first
	return h
}

// Alive pings every held session (conc at a time) and returns how many
// still work: a proxy that dropped idle sessions loses them here.
func (h *Held) Alive(ctx context.Context, conc int, timeout time.Duration) int {
	var (
		alive atomic.Int64
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range min(conc, len(h.Sessions)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(h.Sessions) || ctx.Err() != nil {
					return
				}
				if h.Sessions[i].Ping(pingMsg, pingReply, buf, timeout) == nil {
					alive.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(alive.Load())
}

// Close ends every held session.
func (h *Held) Close() {
	for _, s := range h.Sessions {
		s.Close()
	}
	h.Sessions = nil
}

// Paced opens sessions at a fixed rate (one every 1/rate s, each in its own
// goroutine, at most maxOpen at a time) for dur, as mail arrives at an MTA,
// rather than as fast as the proxy allows. Unlike Handshakes' closed loop,
// which keeps every tlsproxy process busy, this leaves moments with no
// session open, so a process ends after max_use sessions, as master(8)'s
// multi-server processes do (a process past max_use goes on while it has a
// client), and the figures include the start of new processes. Rate in the
// result is the completed sessions per second, which is the pace unless the
// proxy cannot keep it.
func Paced(ctx context.Context, d *Dialer, masterPID int, rate float64, dur time.Duration) (LoadResult, error) {
	const maxOpen = 64
	lns := make(chan *net.TCPListener, maxOpen)
	defer func() {
		close(lns)
		for ln := range lns {
			ln.Close()
		}
	}()
	for range maxOpen {
		ln, err := Listen()
		if err != nil {
			return LoadResult{}, err
		}
		lns <- ln
	}
	before, err := Snapshot(masterPID)
	if err != nil {
		return LoadResult{}, err
	}
	var (
		done    atomic.Int64
		fail    errs
		wg      sync.WaitGroup
		mu      sync.Mutex
		setup   []time.Duration
		state   atomic.Pointer[tls.ConnectionState]
		skipped int
	)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; n < maxLoops && time.Since(start) < dur && ctx.Err() == nil; n++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		var ln *net.TCPListener
		select {
		case ln = <-lns:
		default:
			skipped++ // maxOpen sessions open: the proxy is behind
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { lns <- ln }()
			took, cs, err := d.pingOnce(ln, nil, make([]byte, 256))
			if err != nil {
				fail.add(err)
				return
			}
			done.Add(1)
			mu.Lock()
			setup = append(setup, took)
			mu.Unlock()
			state.CompareAndSwap(nil, &cs)
		}()
	}
	wg.Wait()
	r, err := measured(masterPID, before, time.Since(start), state.Load(), LoadResult{
		Sessions: int(done.Load()), Errors: fail.n, FirstErr: fail.first, Setup: setup,
	})
	if err != nil {
		return LoadResult{}, err
	}
	if skipped > 0 && r.FirstErr == nil {
		r.FirstErr = fmt.Errorf("%d sessions not started: %d already open", skipped, maxOpen)
	}
	r.Errors += skipped
	return r, ctx.Err()
}
