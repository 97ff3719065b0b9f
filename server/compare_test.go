package server

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"rumd/ingest/enrich"
	"rumd/internal/testutil"
)

type delta struct {
	Q, Delta, Rel float64
	CI            [2]float64
	Significant   bool
}

type compareBody struct {
	Metric, Unit string
	View         []string
	A, B         struct{ Count float64 }
	Quantiles    []delta
	Verdict      string
	Groups       []struct {
		Labels    map[string]string
		A, B      struct{ Count float64 }
		Quantiles []delta
		Verdict   string
	}
}

// TestCompareVariants posts two variants whose TTFB differs by 15% and asks the compare
// API which is faster, overall and per country.
func TestCompareVariants(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) { o.RateLimit.PerAddr, o.RateLimit.PerPrefix = 0, 0 })
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Now()
	var n int64
	for i := 0; i < 3000; i += 60 {
		var batch []any
		for j := 0; j < 60; j++ {
			variant, median := "cdn-a", 400.0
			if (i+j)%2 == 1 {
				variant, median = "cdn-b", 340.0
			}
			b := testutil.Beacon(now, "https://example.com/", math.Round(median*math.Exp(0.5*r.NormFloat64())), 2500)
			b["variant"] = variant
			batch = append(batch, b)
		}
		ip := []string{"1.2.3.4", "5.6.7.8"}[(i/60)%2]
		if code, _, body := ts.post(t, testutil.MustJSON(t, batch), map[string]string{"X-Forwarded-For": ip}); code != 204 {
			t.Fatalf("%d %s", code, body)
		}
		n += 60
	}
	ts.waitApplied(t, n)
	var c compareBody
	if code := ts.get(t, "/api/v1/compare?metric=ttfb&from=-1h&to=now&a.variant=cdn-a&b.variant=cdn-b", &c); code != 200 {
		t.Fatalf("compare: %d %+v", code, c)
	}
	if c.A.Count != 1500 || c.B.Count != 1500 || len(c.Quantiles) != 3 || fmt.Sprint(c.View) != "[variant]" {
		t.Fatalf("compare answer %+v", c)
	}
	p75 := c.Quantiles[1]
	if p75.Q != 0.75 || !p75.Significant || p75.Delta >= 0 || p75.CI[1] >= 0 || p75.Rel > -0.08 {
		t.Fatalf("p75 of a 15%% faster b: %+v", p75)
	}
	if !strings.HasPrefix(c.Verdict, "b is faster at p75 by ") || !strings.Contains(c.Verdict, "95% CI") {
		t.Fatalf("verdict %q", c.Verdict)
	}
	// Per country, through the [country, variant] view.
	if code := ts.get(t, "/api/v1/compare?metric=ttfb&from=-1h&a.variant=cdn-a&b.variant=cdn-b&by=country&q=0.5", &c); code != 200 || len(c.Groups) != 2 {
		t.Fatalf("by country: %d %+v", code, c)
	}
	for _, g := range c.Groups {
		if g.A.Count != 750 || !strings.HasPrefix(g.Verdict, "b is faster at p50") {
			t.Fatalf("group %v: %+v", g.Labels, g)
		}
	}
	// Before/after over two time ranges of the same filters: the same data, no difference.
	if code := ts.get(t, "/api/v1/compare?metric=ttfb&a.from=-2h&a.to=-1h&b.from=-1h&b.to=%2B1m", &c); code != 200 ||
		c.A.Count != 0 || c.B.Count != 3000 || !strings.HasPrefix(c.Verdict, "too few page views") {
		t.Fatalf("before/after with an empty before: %d %+v", code, c)
	}
	var e apiError
	if code := ts.get(t, "/api/v1/compare?metric=ttfb", &e); code != 400 || e.Reason != "bad_selection" {
		t.Fatalf("same selection twice: %d %+v", code, e)
	}
}

// TestPageOverrideAndBFCache: a site-set page group wins over the URL rules, and a
// back-forward cache restore counts its vitals but no network timings.
func TestPageOverrideAndBFCache(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	b := testutil.Beacon(now, "https://example.com/cart/12345", 300, 1800)
	b["page"] = "checkout"
	ts.post(t, testutil.MustJSON(t, b), nil)
	restored := testutil.Beacon(now, "https://example.com/cart/12345", 300, 1800)
	restored["nav"] = "bfcache"
	ts.post(t, testutil.MustJSON(t, restored), nil)
	ts.waitApplied(t, 2)
	var vals struct{ Values []string }
	ts.get(t, "/api/v1/label/page/values?from=-1h", &vals)
	if fmt.Sprint(vals.Values) != "[/cart/:id checkout]" {
		t.Fatalf("pages %v", vals.Values)
	}
	var s struct {
		Rows []struct {
			Labels map[string]string
			Count  float64
		}
	}
	ts.get(t, "/api/v1/summary?metric=ttfb&from=-1h&by=nav", &s)
	if len(s.Rows) != 1 || s.Rows[0].Labels["nav"] != "navigate" {
		t.Fatalf("ttfb by nav: %+v (a bfcache restore has no ttfb)", s.Rows)
	}
	ts.get(t, "/api/v1/summary?metric=lcp&from=-1h&by=nav", &s)
	if len(s.Rows) != 2 {
		t.Fatalf("lcp by nav: %+v (a bfcache restore keeps its vitals)", s.Rows)
	}
}
