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
// many clients at once. It reports p50 and p99 in microseconds; the
// issue's bound is auto p99 − pinned p99 ≤ 1 ms.
//
//	go test -run '^$' -bench SetupG4 ./internal/proxy
func BenchmarkSetupG4(b *testing.B) {
	v := pfversion.MustParse("3.7.11")
	for _, mode := range []struct {
		name string
		g    *Generations
	}{
		{"pinned", &Generations{Expect: v, Pinned: true}},
		{"auto", &Generations{Expect: v}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			fx := newFixture(b, nil)
			fx.srv.Generations = mode.g
			path := fx.listen(b)
			req := pfclient.ServerRole(v, "[127.0.0.1]:25")
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(8) // 16 clients on 2 cores: "under load"
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					c, err := pfclient.Dial(path, v)
					if err != nil {
						b.Error(err)
						return
					}
					if err := c.Send(req); err != nil {
						b.Error(err)
						c.Close()
						return
					}
					if _, err := c.Status(); err != nil {
						b.Error(err)
					}
					mine = append(mine, time.Since(start))
					c.Close()
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
