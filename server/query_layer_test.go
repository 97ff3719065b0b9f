package server

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/query"
)

// TestCompareHeadlineIgnoresOrder: the verdict is about the same quantile, and says which,
// however q lists them.
func TestCompareHeadlineIgnoresOrder(t *testing.T) {
	ts := startServer(t, nil)
	r := rand.New(rand.NewPCG(5, 6))
	now := time.Now().Unix()
	for i := 0; i < 2000; i++ {
		rec := series.Record{Time: now}
		rec.Labels[series.Page], rec.Labels[series.Country], rec.Labels[series.Variant] = "/", "DE", "cdn-a"
		median := 400.0
		if i%2 == 1 {
			rec.Labels[series.Variant], median = "cdn-b", 300
		}
		rec.Set(series.TTFB, math.Round(median*math.Exp(0.4*r.NormFloat64())))
		mustAdd(t, ts.agg, &rec)
	}
	mustApplied(t, ts.agg, 2000)
	var verdicts []string
	for _, q := range []string{"0.99,0.5", "0.5,0.99", "0.5,0.9,0.99,0.95", "0.99,0.75,0.5"} {
		var c struct {
			Quantiles []struct{ Q float64 }
			Headline  float64
			Verdict   string
		}
		if code := ts.get(t, "/api/v1/compare?metric=ttfb&from=-1h&a.variant=cdn-a&b.variant=cdn-b&q="+q, &c); code != 200 {
			t.Fatalf("q=%s: %d", q, code)
		}
		var asked []string
		for _, d := range c.Quantiles {
			asked = append(asked, fmt.Sprint(d.Q))
		}
		if strings.Join(asked, ",") != q {
			t.Fatalf("q=%s answered the quantiles in the order %v", q, asked)
		}
		want, p := 0.5, "p50"
		switch q {
		case "0.5,0.9,0.99,0.95":
			want, p = 0.9, "p90"
		case "0.99,0.75,0.5":
			want, p = 0.75, "p75"
		}
		if c.Headline != want || !strings.HasPrefix(c.Verdict, "b is faster at "+p+" by ") {
			t.Fatalf("q=%s: headline %v verdict %q, want %s", q, c.Headline, c.Verdict, p)
		}
		verdicts = append(verdicts, c.Verdict)
	}
	if verdicts[0] != verdicts[1] {
		t.Fatalf("the order of q changed the verdict: %q vs %q", verdicts[0], verdicts[1])
	}
}

// TestQueryStepAndTimeout: a step with two units is read whole, and a query over its time
// budget is answered 503 timeout, with a normal query of the same server as control.
func TestQueryStepAndTimeout(t *testing.T) {
	ts := startServer(t, nil)
	var s seriesBody
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-7d&step=1d12h", &s); code != 200 || s.Step != 36*3600 {
		t.Fatalf("step=1d12h: %d step %d, want 129600", code, s.Step)
	}
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-7d&step=90s", &s); code != 200 || s.Step != 120 {
		t.Fatalf("step=90s: %d step %d, want 120", code, s.Step)
	}

	slow := startServerWith(t, nil, nil, func(o *query.Options) { o.Timeout = time.Nanosecond })
	for _, path := range []string{"/api/v1/series?metric=ttfb", "/api/v1/summary?metric=ttfb", "/api/v1/labels",
		"/api/v1/compare?metric=ttfb&a.from=-2h&a.to=-1h"} {
		var e query.ErrorBody
		if code := slow.get(t, path, &e); code != 503 || e.Reason != query.Timeout || !strings.Contains(e.Error, "longer than 1ns") {
			t.Errorf("%s with a 1 ns budget: %d %+v, want 503 timeout", path, code, e)
		}
		if code := ts.get(t, path, nil); code != 200 {
			t.Errorf("%s with the default budget: %d", path, code)
		}
	}
}
