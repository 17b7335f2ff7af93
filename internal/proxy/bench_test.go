package proxy

import (
	"sort"
	"sync"
	"testing"
	"time"

	"tlsproxy/internal/pfclient"
	"tlsproxy/internal/pfversion"
)

// BenchmarkSetupG4 measures what the generation detection costs a 3.6+
// session: the time from connect() to the status reply, with the client
// release pinned (no detection) and on "auto" (a look for early bytes),
// one client at a time and 16 at once. It reports p50 and p99 in
// microseconds; the bound we hold it to is auto p99 − pinned p99 ≤ 1 ms.
//
//	go test -run '^$' -bench SetupG4 ./internal/proxy
func BenchmarkSetupG4(b *testing.B) {
	v := pfversion.MustParse("3.7.11")
	for _, mode := range []struct {
		name        string
		g           *Generations
		parallelism int // clients per GOMAXPROCS; 0: one client
	}{
		{"pinned/1-client", &Generations{Expect: v, Pinned: true}, 0},
		{"auto/1-client", &Generations{Expect: v}, 0},
		{"pinned/16-clients", &Generations{Expect: v, Pinned: true}, 8},
		{"auto/16-clients", &Generations{Expect: v}, 8},
	} {
		b.Run(mode.name, func(b *testing.B) {
			fx := newFixture(b, nil)
			fx.srv.Generations = mode.g
			path := fx.listen(b)
			req := pfclient.ServerRole(v, "[127.0.0.1]:25")
			setup := func() (time.Duration, bool) {
				start := time.Now()
				c, err := pfclient.Dial(path, v)
				if err != nil {
					b.Error(err)
					return 0, false
				}
				defer c.Close()
				if err := c.Send(req); err != nil {
					b.Error(err)
					return 0, false
				}
				if _, err := c.Status(); err != nil {
					b.Error(err)
				}
				return time.Since(start), true
			}
			var mu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			if mode.parallelism == 0 {
				for range b.N {
					d, ok := setup()
					if !ok {
						return
					}
					lat = append(lat, d)
				}
			} else {
				b.SetParallelism(mode.parallelism) // 16 clients on 2 cores: "under load"
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						d, ok := setup()
						if !ok {
							return
						}
						mine = append(mine, d)
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
