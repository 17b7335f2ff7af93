package proxy

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pftest"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// Fuzz targets for what a Postfix client sends: the
// second request list (parseClientProps, parseServerProps) and the whole
// request conversation as a session reads it. Their seed corpora live in
// testdata/fuzz/<Target>/; -corpus rewrites them from the seeds below.

var writeCorpus = flag.Bool("corpus", false, "rewrite testdata/fuzz/{FuzzProps,FuzzRequest} from the seeds")

// secondLists returns every release's second request list: the client
// role of 3.4 … 3.12 (plain, with DANE, posttls-finger, with TLSRPT) and
// the 3.12 server role.
func secondLists(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	add := func(r pfclient.Request) {
		l, ok, err := r.Second()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, attr.AppendList(nil, l))
		}
	}
	for _, vs := range versions {
		v := pfversion.MustParse(vs)
		if v.Generation() < pfversion.G3 {
			continue
		}
		add(pfclient.ClientRole(v, "[192.0.2.1]:25", "mx.example[192.0.2.1]:25"))
		add(pfclient.Finger(v, "[192.0.2.1]:25"))
		r := pfclient.ClientRole(v, "[192.0.2.1]:25", "")
		r.DANE = &pfclient.DANE{Domain: "mx.example", Records: []tlsclient.TLSA{
			{Usage: 3, Selector: 1, MType: 1, Data: bytes.Repeat([]byte{7}, 32)},
			{Usage: 2, Selector: 0, MType: 2, Data: bytes.Repeat([]byte{9}, 64)}}}
		r.MatchNames = []string{"nexthop", "dot-nexthop"}
		if v.Minor >= 10 || v.Major > 3 {
			r.TLSRPT = &pfclient.TLSRPT{Enabled: true, SocketName: "tlsrpt", PolicyDomain: "example",
				PolicyStrings: []string{"a", "b"}, MXHostPatterns: []string{"*.example"}}
		}
		add(r)
		if v.Generation() == pfversion.G5 {
			add(pfclient.ServerRole(v, "[192.0.2.1]:25"))
		}
	}
	return out
}

func FuzzProps(f *testing.F) {
	for _, b := range secondLists(f) {
		f.Add(b)
	}
	f.Add([]byte("log_param\x00x\x00\x00"))
	f.Add([]byte("a\x00b\x00log_param\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := attr.NewReader(bytes.NewReader(data)).ReadList()
		if err != nil {
			return
		}
		for _, parse := range []func(attr.List) (*props, error){parseClientProps, parseServerProps} {
			p, err := parse(l)
			if err != nil {
				continue // (a non-nil p beside an error is never used)
			}
			if p == nil {
				t.Fatal("no props and no error")
			}
			for _, announced := range []bool{false, true} {
				if n := p.contextLen(announced); pfversion.ContextNames(n) == nil {
					t.Fatalf("context length %d has no shape", n)
				}
			}
		}
	})
}

// requestSeeds are whole client writes: every release's request in each
// role, and broken ones.
func requestSeeds(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, vs := range versions {
		v := pfversion.MustParse(vs)
		reqs := []pfclient.Request{pfclient.ServerRole(v, "[192.0.2.1]:25"), pfclient.SMTPDTest(v, "[192.0.2.1]:25", "")}
		if v.Generation() >= pfversion.G3 {
			reqs = append(reqs, pfclient.ClientRole(v, "[192.0.2.1]:25", ""))
		}
		if v.Generation() == pfversion.G5 {
			reqs = append(reqs, pfclient.Probe(v, "[192.0.2.1]:25"))
		}
		for _, r := range reqs {
			b, err := r.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return append(out,
		[]byte("remote_endpoint\x00[192.0.2.10]:51\x00flags\x00one\x00timeout\x00300\x00timeout\x00300\x00serverid\x00smtpd\x00\x00"),
		[]byte("remote_endpoint\x00x\x00flags\x001\x00timeout\x00-1\x00timeout\x0099999999999\x00serverid\x00\x00\x00"),
		[]byte("{\x00}\x00\x00"),
		[]byte("remote_endpoint\x00[192.0.2.10]:51"),
	)
}

// fuzzLog records only what a fuzz iteration must fail on.
type fuzzLog struct {
	mu       sync.Mutex
	internal string
}

func (l *fuzzLog) Infof(string, ...any)  {}
func (l *fuzzLog) Errorf(string, ...any) {}
func (l *fuzzLog) Fatalf(string, ...any) {}
func (l *fuzzLog) Warnf(format string, a ...any) {
	if s := fmt.Sprintf(format, a...); strings.Contains(s, "internal error") {
		l.mu.Lock()
		l.internal = s
		l.mu.Unlock()
	}
}

func (l *fuzzLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.internal
	l.internal = ""
	return s
}

// FuzzRequest plays data as everything a client writes before it closes
// its side, against processes pinned to 2.8 (no announcement), 3.7 and
// 3.12 (G5). The session must end (it reads at most the request, the
// second list and the descriptor), never panic, and answer with nothing
// but an announcement and a status list.
func FuzzRequest(f *testing.F) {
	for _, b := range requestSeeds(f) {
		f.Add(b, uint8(1))
	}
	fx := newFixture(f, nil)
	log := &fuzzLog{}
	servers := []*Server{}
	for _, vs := range []string{"2.8.0", "3.7.11", "3.12-20260821"} {
		servers = append(servers, &Server{TLS: fx.srv.TLS, Log: log, InitTimeout: 2 * time.Second,
			Generations: &Generations{Expect: pfversion.MustParse(vs), Pinned: true}})
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		srv := servers[int(which)%len(servers)]
		ours, theirs := pftest.UnixPair(t)
		defer theirs.Close()
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(ours) }()
		_ = theirs.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { // the session may stop reading early; do not wait for the write
			_, _ = theirs.Write(data)
			_ = theirs.CloseWrite()
		}()
		reply, err := io.ReadAll(theirs)
		if err != nil {
			t.Fatalf("reading the reply: %v", err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end")
		}
		if s := log.take(); s != "" {
			t.Fatal(s)
		}
		reply = bytes.TrimPrefix(reply, announcement)
		for _, ok := range []string{"", "status\x000\x00\x00", "status\x001\x00\x00"} {
			if string(reply) == ok {
				return
			}
		}
		t.Fatalf("reply %q", reply)
	})
}

// TestFuzzCorpus checks that the committed seed corpora hold every seed
// (go test ./internal/proxy -run TestFuzzCorpus -corpus rewrites them).
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range map[string][][]byte{"FuzzProps": secondLists(t), "FuzzRequest": requestSeeds(t)} {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, b := range seeds {
			var text string
			if target == "FuzzProps" {
				text = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			} else {
				text = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\n", b, i%3)
			}
			name := filepath.Join(dir, fmt.Sprintf("seed-%03d", i))
			if *writeCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(name)
			if err != nil || string(got) != text {
				t.Errorf("%s: missing or stale (%v); run go test ./internal/proxy -run TestFuzzCorpus -corpus", name, err)
			}
		}
	}
}
