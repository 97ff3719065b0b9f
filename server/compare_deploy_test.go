package server

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/ingest/enrich"
	"rumd/internal/testutil"
)

// TestCompareBeforeAfterDeploy asks "did my deploy three minutes ago change anything":
// a = the hour before, b = the three minutes since. The deploy falls inside a stored
// minute; its page views from before the deploy must not count in b (they did: the minute
// was read by both sides), and the answer says which windows were read.
func TestCompareBeforeAfterDeploy(t *testing.T) {
	var clock atomic.Int64
	ts := startServerAgg(t, func(o *Options, _ *enrich.Options) { o.RateLimit.PerAddr, o.RateLimit.PerPrefix = 0, 0 },
		func(o *aggregator.Options) { o.Now = func() time.Time { return time.Unix(clock.Load(), 0) } })
	f := time.Now().Unix() / 60 * 60 // a minute boundary
	var n int64
	postAt := func(at int64, count int, ttfb float64) {
		t.Helper()
		clock.Store(at)
		for i := 0; i < count; i += 25 {
			var batch []any
			for j := i; j < min(i+25, count); j++ {
				batch = append(batch, testutil.Beacon(time.Unix(at, 0), "https://example.com/", ttfb, 2500))
			}
			if code, _, body := ts.post(t, testutil.MustJSON(t, batch), nil); code != 204 {
				t.Fatalf("post at %d: %d %s", at, code, body)
			}
		}
		n += int64(count)
		ts.waitApplied(t, n)
	}
	postAt(f-400, 200, 500) // well before the deploy
	postAt(f-175, 50, 500)  // before the deploy at f-170, in the minute [f-180, f-120)
	postAt(f+10, 30, 300)   // after it; now is f+10
	// The earlier minutes are closed and written to Badger.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		return ts.db.Flushed() >= f-120, fmt.Sprintf("flushed until %d, want %d", ts.db.Flushed(), f-120)
	})

	var c struct {
		compareBody
		Cut  string
		A, B struct{ Count, From, To float64 }
	}
	if code := ts.get(t, "/api/v1/compare?metric=ttfb&a.from=-1h&a.to=-3min&b.from=-3min&b.to=now", &c); code != 200 {
		t.Fatalf("compare: %d %+v", code, c)
	}
	t.Logf("a %+v b %+v cut %q", c.A, c.B, c.Cut)
	if c.B.Count != 30 || c.A.Count != 200 {
		t.Fatalf("b must hold only the 30 page views after the deploy and a the 200 of whole minutes before it; a %v, b %v", c.A.Count, c.B.Count)
	}
	if c.A.From != float64(f-3600) || c.A.To != float64(f-180) || c.B.From != float64(f-120) || c.B.To != float64(f+60) {
		t.Fatalf("windows read: a %v–%v, b %v–%v; want a %d–%d, b %d–%d", c.A.From, c.A.To, c.B.From, c.B.To, f-3600, f-180, f-120, f+60)
	}
	if !strings.Contains(c.Cut, "read by neither") {
		t.Fatalf("the answer must say the boundary minute was cut: %q", c.Cut)
	}

	var e apiError
	for _, tc := range []struct{ name, q string }{
		{"variant against itself", "a.variant=none&b.variant=none"},
		{"same window twice", "a.from=-1h&b.from=-1h"},
		{"overlapping as asked", "a.from=-1h&a.to=-1min&b.from=-5min&b.to=now"},
		{"nothing left of b after the cut", "a.from=-1h&a.to=-5s&b.from=-5s&b.to=now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := ts.get(t, "/api/v1/compare?metric=ttfb&"+tc.q, &e); code != 400 || e.Reason != "bad_selection" {
				t.Fatalf("%s: %d %+v", tc.q, code, e)
			}
			t.Log(e.Error)
		})
	}
}
