package proxy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pftest/leak"
	"tlsproxy/internal/pfversion"
)

// Byte-exact relay under load: many sessions of mixed
// Postfix releases at once, random stream sizes and write sizes in both
// directions, every stream's SHA-256 compared end to end, and each
// session ended by one of the half-closes whose rules Postfix fixes:
//
//   - plaintext EOF: tlsproxy sends close_notify and closes both sides, so
//     the remote reads everything the plaintext side wrote, then a clean
//     EOF, and the plaintext side then reads EOF;
//   - remote close_notify or TCP FIN: tlsproxy writes everything it has
//     decrypted to the plaintext side and closes both sides.
//
// Every byte sent before the half-close must arrive; nothing sent after
// it may arrive on the other side.

// halfClose says how a load session ends.
type halfClose int

const (
	plainClose    halfClose = iota // postscreen closes its socket (the usual end)
	plainShutdown                  // the plaintext side shuts down writing only
	remoteNotify                   // the remote sends close_notify, keeps TCP open
	remoteFIN                      // the remote half-closes TCP without close_notify
	numHalfCloses
)

func (h halfClose) String() string {
	return [...]string{"plaintext close", "plaintext shutdown", "remote close_notify", "remote FIN"}[h]
}

// loadSpec is one session of the load test.
type loadSpec struct {
	req        pfclient.Request
	up, down   int // phase 1 stream sizes: remote -> plaintext, plaintext -> remote
	tail       int // bytes the closing side sends just before its half-close
	end        halfClose
	seed       uint64
	compared   int64
	lateWrites int // late bytes the other side managed to write (and must not arrive)
}

// streamSize picks a size in [0, 1 MiB], log-uniformly so that small,
// record-sized and large streams all occur.
func streamSize(r *rand.Rand) int {
	return int(math.Exp(r.Float64()*math.Log(1<<20+1))) - 1
}

// edgeSizes are the sizes the first sessions use: empty, one byte, around
// one TLS record, and the maximum.
var edgeSizes = []int{0, 1, 16383, 16384, 16385, 1 << 20}

// sendStream writes n pseudo-random bytes (from seed) to w in writes of
// random size (log-uniform from 1 byte to 64 KiB), and returns their
// digest.
func sendStream(w io.Writer, n int, seed uint64) ([]byte, error) {
	data := rand.NewChaCha8(seedBytes(seed))
	sizes := rand.New(rand.NewPCG(seed, 1))
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int(math.Exp(sizes.Float64()*math.Log(float64(len(buf))))))
		_, _ = data.Read(buf[:k])
		h.Write(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return nil, err
		}
		n -= k
	}
	return h.Sum(nil), nil
}

// recvStream reads exactly n bytes from r in reads of random size and
// returns their digest.
func recvStream(r io.Reader, n int, seed uint64) ([]byte, error) {
	sizes := rand.New(rand.NewPCG(seed, 2))
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, 1+sizes.IntN(len(buf)))
		got, err := io.ReadFull(r, buf[:k])
		h.Write(buf[:got])
		n -= got
		if err != nil {
			return h.Sum(nil), fmt.Errorf("%d bytes short: %w", n, err)
		}
	}
	return h.Sum(nil), nil
}

// recvToEOF reads until EOF (or an error) and returns the digest, the
// count and the error that ended the stream (nil for io.EOF).
func recvToEOF(r io.Reader) ([]byte, int, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return h.Sum(nil), int(n), err
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		b[i*8] = byte(seed >> (8 * i))
	}
	b[31] = byte(seed >> 56)
	return b
}

// serveUnix runs srv behind a UNIX listener like fx.listen, but returns
// a stop function that closes the listener and waits for every session,
// so a test can check for leaks before it ends.
func serveUnix(t testing.TB, srv *Server) (path string, stop func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "tlsproxy")
	stop = pftest.ServeEach(t, pftest.ListenUnix(t, path), func(c net.Conn) { srv.Serve(c.(*net.UnixConn)) })
	return path, stop
}

// takeBaseline is leak.Take once the relay's process-wide poller, whose
// goroutine and descriptor live as long as the process, has started.
func takeBaseline(t testing.TB) leak.Baseline {
	t.Helper()
	if err := defaultPoller.Start(); err != nil {
		t.Fatal(err)
	}
	return leak.Take(t)
}

// loadVersions are the releases the load test mixes: each generation and
// each context reply shape that a 3.7-expecting process can tell apart.
func loadRequest(i int, r *rand.Rand) pfclient.Request {
	v := pfversion.MustParse(versions[i%len(versions)])
	ep := fmt.Sprintf("[127.0.0.1]:%d", 20000+i)
	g := v.Generation()
	// The context reply's shape is known without pinning for G3, G5 and
	// for the 21-attribute G2 and 22-attribute G4 releases.
	withContext := g == pfversion.G3 || g == pfversion.G5 ||
		(g == pfversion.G2 && v.ContextLen() == 21) || (g == pfversion.G4 && v.ContextLen() == 22)
	if withContext && r.IntN(2) == 0 {
		return pfclient.SMTPDTest(v, ep, "")
	}
	return pfclient.ServerRole(v, ep)
}

// TestRelayUnderLoad runs 200 sessions at once, every generation mixed,
// and compares every stream's digest: once with directions that park at
// every pause in their input (1 ms), once with directions that never park.
func TestRelayUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		parkAfter time.Duration
	}{
		{"park at every pause", time.Millisecond},
		{"never park", -1},
	} {
		t.Run(tc.name, func(t *testing.T) { relayUnderLoad(t, tc.parkAfter) })
	}
}

func relayUnderLoad(t *testing.T, parkAfter time.Duration) {
	const sessions = 200
	fx := newFixture(t, nil)
	fx.srv.ParkAfter = parkAfter
	// Old clients are emulated in this race-instrumented, busy process:
	// give them far more time between connect() and write() than a real
	// one needs, so that the generation guess stays right under load.
	fx.srv.Generations = &Generations{Expect: pfversion.MustParse("3.7.11"), EarlyWait: 2 * time.Second}
	before := takeBaseline(t)
	waits := defaultPoller.Waits()
	path, stop := serveUnix(t, fx.srv)

	r := rand.New(rand.NewPCG(8, 8))
	specs := make([]*loadSpec, sessions)
	for i := range specs {
		s := &loadSpec{req: loadRequest(i, r), seed: uint64(i)*7919 + 1,
			up: streamSize(r), down: streamSize(r), tail: streamSize(r) % (64 << 10),
			end: halfClose(i % int(numHalfCloses))}
		if i < len(edgeSizes)*len(edgeSizes) {
			s.up, s.down = edgeSizes[i%len(edgeSizes)], edgeSizes[i/len(edgeSizes)]
		}
		specs[i] = s
	}

	// Every session first gets as far as the relay; then all of them
	// move their data at the same time.
	var ready sync.WaitGroup
	ready.Add(sessions)
	var inRelay, maxInRelay atomic.Int64
	errs := make([]error, sessions)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fx.loadSession(path, s, &ready, &inRelay, &maxInRelay)
		}()
	}
	wg.Wait()

	var failed []string
	var bytes int64
	late := 0
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("session %d (%v, %v): %v\n\tlog: %s", i, specs[i].req.Version, specs[i].end, err,
				strings.Join(linesAbout(fx.rec.Lines(), specs[i].req.Endpoint), "\n\tlog: ")))
		}
		bytes += specs[i].compared
		late += specs[i].lateWrites
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		t.Fatalf("%d of %d sessions failed:\n%s", len(failed), sessions, strings.Join(failed, "\n"))
	}
	parked := defaultPoller.Waits() - waits
	t.Logf("%d sessions (%d at once in the relay), %d bytes compared end to end, %d late writes after a half-close, none delivered; %d parked waits",
		sessions, maxInRelay.Load(), bytes, late, parked)
	if (parked > 0) != (parkAfter > 0) {
		t.Errorf("park delay %v, but %d waits were parked", parkAfter, parked)
	}
	stop()
	before.Check(t, "after the load")
	for _, l := range fx.rec.Lines() {
		if strings.Contains(l, "warning:") {
			t.Errorf("unexpected log line %q", l)
		}
	}
}

// linesAbout returns the log lines that mention endpoint.
func linesAbout(lines []string, endpoint string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, endpoint) {
			out = append(out, l)
		}
	}
	return out
}

// dialPatient does pfclient.Open's hand-over with waits that suit a busy,
// race-instrumented test process (one minute) rather than postscreen's
// 10 s: the load test checks bytes, not latency.
func dialPatient(path string, r pfclient.Request, remote *os.File) (*pfclient.Conn, error) {
	uc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	c := &pfclient.Conn{UnixConn: uc, Version: r.Version, Timeout: time.Minute}
	if r.Version.Generation().Announces() {
		got := make([]byte, len(announcement))
		_ = uc.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.ReadFull(uc, got); err != nil || string(got) != string(announcement) {
			uc.Close()
			return nil, fmt.Errorf("announcement %q: %v", got, err)
		}
	}
	err = c.Send(r)
	st := 0
	if err == nil {
		st, err = c.Status()
	}
	if err == nil && st == 1 {
		err = c.PassFD(remote)
	}
	if err != nil || st != 1 {
		uc.Close()
		return nil, fmt.Errorf("hand-over: status %d, %v", st, err)
	}
	return c, nil
}

// loadSession runs one session of the load test and checks every byte.
func (fx *fixture) loadSession(path string, s *loadSpec, ready *sync.WaitGroup, inRelay, maxInRelay *atomic.Int64) (err error) {
	readyOnce := sync.OnceFunc(ready.Done)
	defer readyOnce()
	deadline := time.Now().Add(2 * time.Minute)

	rc, rf, err := pftest.NewRemotePair()
	if err != nil {
		return err
	}
	defer rc.Close()
	c, err := dialPatient(path, s.req, rf)
	rf.Close()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = rc.SetDeadline(deadline)
	_ = c.SetDeadline(deadline)
	tc := fx.tlsClient(rc)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if s.req.Flags&FlagSendContext != 0 {
		if _, err := c.Context(pfclient.ContextLen(s.req)); err != nil {
			return fmt.Errorf("context: %w", err)
		}
		_ = c.SetDeadline(deadline) // Context cleared the read deadline
	}
	readyOnce()
	ready.Wait()
	n := inRelay.Add(1)
	defer inRelay.Add(-1)
	for m := maxInRelay.Load(); n > m && !maxInRelay.CompareAndSwap(m, n); m = maxInRelay.Load() {
	}

	// Phase 1: both directions at once, random write and read sizes.
	type result struct {
		what string
		sum  []byte
		err  error
	}
	res := make(chan result, 4)
	go func() { h, err := sendStream(tc, s.up, s.seed); res <- result{"up sent", h, err} }()
	go func() { h, err := sendStream(c, s.down, s.seed+1); res <- result{"down sent", h, err} }()
	go func() { h, err := recvStream(c, s.up, s.seed); res <- result{"up received", h, err} }()
	go func() { h, err := recvStream(tc, s.down, s.seed+1); res <- result{"down received", h, err} }()
	sums := map[string][]byte{}
	for range 4 {
		r := <-res
		if r.err != nil {
			return fmt.Errorf("%s: %w", r.what, r.err)
		}
		sums[r.what] = r.sum
	}
	if string(sums["up sent"]) != string(sums["up received"]) {
		return fmt.Errorf("remote -> plaintext: %d bytes altered", s.up)
	}
	if string(sums["down sent"]) != string(sums["down received"]) {
		return fmt.Errorf("plaintext -> remote: %d bytes altered", s.down)
	}
	s.compared = int64(s.up + s.down)

	// Phase 2: the closing side sends its tail and half-closes; the other
	// side reads the tail, then EOF.
	var closer io.Writer = c
	var closeIt func() error
	var other io.Reader = tc
	switch s.end {
	case plainClose:
		closeIt = c.Close
	case plainShutdown:
		closeIt = c.CloseWrite
	case remoteNotify:
		closer, closeIt, other = tc, tc.CloseWrite, c
	case remoteFIN:
		closer, other = tc, c
		closeIt = func() error { return rc.(*net.TCPConn).CloseWrite() }
	}
	sent, err := sendStream(closer, s.tail, s.seed+2)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if err := closeIt(); err != nil {
		return fmt.Errorf("half-close: %w", err)
	}
	got, n2, err := recvToEOF(other)
	if err != nil {
		return fmt.Errorf("reading the tail to EOF: %d of %d bytes, then %w", n2, s.tail, err)
	}
	if n2 != s.tail || string(got) != string(sent) {
		return fmt.Errorf("tail: %d bytes arrived, want %d (digest equal: %v)", n2, s.tail, string(got) == string(sent))
	}
	s.compared += int64(s.tail)

	// Phase 3: the other side writes after it saw EOF; none of that may
	// reach the side that half-closed.
	late := []byte("LATE DATA AFTER THE HALF-CLOSE\r\n")
	var otherW io.Writer = tc
	var closerR io.Reader = c
	if s.end >= remoteNotify {
		otherW, closerR = c, tc
	}
	if _, err := otherW.Write(late); err == nil {
		s.lateWrites = len(late)
	}
	if s.end == plainClose {
		return nil // the closer cannot read any more
	}
	_, n3, err := recvToEOF(closerR)
	if n3 != 0 {
		return fmt.Errorf("%d bytes arrived after the half-close", n3)
	}
	if err != nil && !closedConn(err) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("after the half-close: %w", err)
	}
	return nil
}
