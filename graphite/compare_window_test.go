package graphite

import (
	"math"
	"net/url"
	"strconv"
	"testing"
	"time"

	"rumd/internal/series"
)

// TestComparePercentilesDeployWindows: comparePercentiles(timeShift(x, '3min'), x) over the
// last three minutes asks "did the deploy three minutes ago change anything". The deploy
// falls inside a stored minute; that minute's page views from before it must not count on
// side b, the windows read must not overlap and are in the answer's tags, and a series
// compared with itself is refused.
func TestComparePercentilesDeployWindows(t *testing.T) {
	now := time.Date(2025, 11, 21, 8, 0, 25, 0, time.UTC) // the deploy: 07:57:25
	var recs []series.Record
	add := func(at string, n int, ttfb float64) {
		ts, err := time.Parse(time.RFC3339, "2025-11-21T"+at+"Z")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			r := series.Record{Time: ts.Unix()}
			r.Set(series.TTFB, ttfb)
			recs = append(recs, r)
		}
	}
	add("07:55:10", 30, 500) // before the deploy
	add("07:57:10", 40, 500) // before it, in the minute it falls in
	add("07:59:10", 20, 300) // after it
	e := mustEnv(t, now, recs)

	form := url.Values{"target": {"comparePercentiles(timeShift(rumd.total.ttfb.p75, '3min'), rumd.total.ttfb.p75, true)"},
		"from": {"-3min"}, "until": {"now"}, "format": {"json"}, "maxDataPoints": {"1000"}}
	var list []renderSeries
	if code := e.post(t, "/render", form, &list); code != 200 || len(list) != 5 {
		t.Fatalf("render: %d %+v", code, list)
	}
	tags := list[0].Tags
	t.Logf("verdict %q, tags %v", list[0].Target, tags)
	num := func(k string) int64 { v, _ := strconv.ParseInt(tags[k], 10, 64); return v }
	if num("a_to") == 0 || num("b_from") == 0 || num("a_to") > num("b_from") || tags["cut"] == "" {
		t.Fatalf("the windows read must be tagged, apart, with the cut said: %v", tags)
	}
	for _, s := range list[1:] {
		if s.Tags["compare"] == "b" {
			if v := s.Datapoints[0][0]; v == nil || math.Abs(*v-300) > 10 {
				t.Fatalf("b's p75 must be read from the page views after the deploy (300 ms): %v", fmtPoint(v))
			}
		}
	}

	var bad struct{ Error, Reason string }
	form.Set("target", "comparePercentiles(rumd.total.ttfb.p75, rumd.total.ttfb.p75)")
	if code := e.post(t, "/render", form, &bad); code != 400 || bad.Reason != "bad_selection" {
		t.Fatalf("a series against itself: %d %+v", code, bad)
	}
}

func fmtPoint(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
