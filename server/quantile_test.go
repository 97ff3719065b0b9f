package server

import (
	"fmt"
	"math"
	"testing"
	"time"

	"rumd/internal/sketch"
	"rumd/internal/testutil"
)

// TestFewViewsQuantilesNotLow: the JSON API answers percentiles of a page with few views
// by nearest rank, so a slow view is not hidden under its p75 or p99. With TTFBs {10, 200}
// the old reader answered 10 for p75, p95 and p99; with {100, 200, 300, 400}, 300 for p95.
func TestFewViewsQuantilesNotLow(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	pages := map[string][]float64{
		"https://example.com/two":  {10, 200},
		"https://example.com/four": {100, 200, 300, 400},
	}
	var n int64
	for page, vals := range pages {
		for _, v := range vals {
			if status, _, b := ts.post(t, testutil.MustJSON(t, testutil.Beacon(now, page, v, 2000)), nil); status != 204 {
				t.Fatalf("post: %d %s", status, b)
			}
			n++
		}
	}
	ts.waitApplied(t, n)
	want := map[string]map[string]float64{
		"/two":  {"0.5": 10, "0.75": 200, "0.95": 200, "0.99": 200},
		"/four": {"0.5": 200, "0.75": 300, "0.95": 400, "0.99": 400},
	}
	var sum struct {
		Rows []struct {
			Labels map[string]string
			Count  float64
			Q      map[string]float64
		}
	}
	if code := ts.get(t, "/api/v1/summary?metric=ttfb&from=-1h&by=page", &sum); code != 200 || len(sum.Rows) != 2 {
		t.Fatalf("summary %d %+v", code, sum)
	}
	for _, r := range sum.Rows {
		w, ok := want[r.Labels["page"]]
		if !ok {
			t.Fatalf("unexpected row %+v", r)
		}
		for q, v := range w {
			if got := r.Q[q]; math.Abs(got-v) > v*sketch.RelativeAccuracy*1.01 {
				t.Errorf("page %s p%s: %v, want %v (nearest rank of %d views)", r.Labels["page"], q, got, v, int(r.Count))
			}
		}
	}
	// The same answer through compare, which reads its sides with the same quantile.
	var cmp struct {
		Quantiles []struct {
			Q    float64
			A, B *float64
		}
	}
	path := "/api/v1/compare?metric=ttfb&from=-1h&a.page=/two&b.page=/four&q=0.95"
	if code := ts.get(t, path, &cmp); code != 200 || len(cmp.Quantiles) != 1 {
		t.Fatalf("compare %d %+v", code, cmp)
	}
	d := cmp.Quantiles[0]
	if d.A == nil || d.B == nil || math.Abs(*d.A-200) > 3 || math.Abs(*d.B-400) > 5 {
		t.Fatalf("compare p95: a %s, b %s; want 200 and 400", fmtp(d.A), fmtp(d.B))
	}
}

func fmtp(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
