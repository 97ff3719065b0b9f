package graphite

import (
	"math"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/query"
)

// compareEnv seeds the 20 stored minutes before now with TTFB of two variants in two
// countries: cdn-b's log-normal median 15% above cdn-a's (a clear difference at n = 2,000 a
// side). The same
// minutes one day earlier hold cdn-a's values, copied, under both variants: so cdn-a today
// equals cdn-a yesterday exactly, and cdn-b today is 15% slower than cdn-b yesterday.
func compareEnv(t *testing.T) (*env, map[string][]float64) {
	t.Helper()
	now := testNow()
	rng := rand.New(rand.NewPCG(7, 15))
	vals := map[string][]float64{}
	var recs []series.Record
	add := func(at int64, country, variant string, v float64) {
		r := series.Record{Time: at}
		r.Labels[series.Page] = "/"
		r.Labels[series.Country] = country
		r.Labels[series.Device] = "desktop"
		r.Labels[series.Nav] = "navigate"
		r.Labels[series.Variant] = variant
		r.Set(series.TTFB, v)
		recs = append(recs, r)
	}
	for m := int64(1); m <= 20; m++ {
		t0 := floorTo(now.Unix(), 60) - 60*m
		for i := 0; i < 100; i++ {
			at := t0 + int64(rng.IntN(60))
			a := math.Round(300*math.Exp(0.5*rng.NormFloat64())*10) / 10
			b := math.Round(345*math.Exp(0.5*rng.NormFloat64())*10) / 10
			c := []string{"DE", "US"}[i%2]
			add(at, c, "cdn-a", a)
			add(at, c, "cdn-b", b)
			add(at-86400, c, "cdn-a", a)
			add(at-86400, c, "cdn-b", a)
			vals["cdn-a"] = append(vals["cdn-a"], a)
			vals["cdn-b"] = append(vals["cdn-b"], b)
		}
	}
	return mustEnv(t, now, recs), vals
}

// wantCompare is the comparison of p75 of two value lists, from sketches built here.
func wantCompare(a, b []float64) (query.QuantileDelta, string) {
	sa, sb := sketch.New(), sketch.New()
	for _, v := range a {
		sa.Add(v)
	}
	for _, v := range b {
		sb.Add(v)
	}
	d := query.CompareQuantile(sa, sb, 0.75)
	return d, query.Verdict(d, "ms", sa.GetCount(), sb.GetCount())
}

func TestComparePercentiles(t *testing.T) {
	e, vals := compareEnv(t)
	from, until := e.now.Unix()-30*60, e.now.Unix()
	render := func(t *testing.T, target string) []renderSeries {
		t.Helper()
		var got []renderSeries
		// As Grafana's backend posts it: wrapped in aliasSub(…, "\1 C"), a panel-wide step.
		form := grafanaForm("C", target, strconv.FormatInt(from, 10), strconv.FormatInt(until, 10), 1000)
		if code := e.post(t, "/render", form, &got); code != 200 {
			t.Fatalf("%s: status %d", target, code)
		}
		for _, s := range got {
			if !strings.HasSuffix(s.Target, " C") {
				t.Errorf("%q does not end in Grafana's refId", s.Target)
			}
			if len(s.Datapoints) != 1 || int64(*s.Datapoints[0][1]) != floorTo(from, 60) || s.Step != ceilTo(until, 60)-floorTo(from, 60) {
				t.Errorf("%q: points %v step %d, want one at the range start %d with the range as step", s.Target, s.Datapoints, s.Step, floorTo(from, 60))
			}
		}
		return got
	}
	value := func(s renderSeries) float64 {
		if s.Datapoints[0][0] == nil {
			return math.NaN()
		}
		return *s.Datapoints[0][0]
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(1, math.Abs(want)) }
	a, b := vals["cdn-a"], vals["cdn-b"]

	for _, tc := range []struct {
		name, target string
		a, b         []float64
		prefix       string
		sign         float64
	}{
		{"b 15% slower", "comparePercentiles(mergeSeries(rumd.variant.cdn-a.ttfb.p75), mergeSeries(rumd.variant.cdn-b.ttfb.p75), true)", a, b, "b is slower at p75 by ", 1},
		{"b 15% faster", "comparePercentiles(rumd.variant.cdn-b.ttfb.p75, rumd.variant.cdn-a.ttfb.p75, true)", b, a, "b is faster at p75 by ", -1},
		{"tagged against two countries' series", "comparePercentiles(seriesByTag('name=ttfb','stat=p75','variant=cdn-a'), rumd.country_variant.*.cdn-b.ttfb.p75, true)", a, b, "b is slower at p75 by ", 1},
		{"timeShift: b against its values a day earlier", "comparePercentiles(timeShift(rumd.variant.cdn-b.ttfb.p75, '1d'), alias(rumd.variant.cdn-b.ttfb.p75, 'now'), true)", a, b, "b is slower at p75 by ", 1},
		{"timeShift: the same values a day earlier", "comparePercentiles(timeShift(mergeSeries(rumd.variant.cdn-a.ttfb.p75), '1d'), rumd.variant.cdn-a.ttfb.p75, true)", a, a, "no detectable difference at p75 (95% CI ", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.target)
			if len(got) != 5 {
				t.Fatalf("%d series %v, want the verdict, a, b, ci_low, ci_high", len(got), names(got))
			}
			want, verdict := wantCompare(tc.a, tc.b)
			if got[0].Target != verdict+" C" || !strings.HasPrefix(got[0].Target, tc.prefix) {
				t.Errorf("verdict %q, want %q starting %q", got[0].Target, verdict+" C", tc.prefix)
			}
			for i, w := range []struct {
				target, role string
				v            float64
			}{
				{verdict, roleDelta, want.Delta},
				{"ttfb p75 a", roleA, want.A},
				{"ttfb p75 b", roleB, want.B},
				{"ttfb p75 ci_low", roleCILow, want.CI[0]},
				{"ttfb p75 ci_high", roleCIHigh, want.CI[1]},
			} {
				s := got[i]
				if s.Target != w.target+" C" || s.Tags["compare"] != w.role || s.Tags["metric"] != "ttfb" || s.Tags["stat"] != "p75" {
					t.Errorf("series %d: %q tags %v, want %q tagged compare=%s", i, s.Target, s.Tags, w.target+" C", w.role)
				}
				if !near(value(s), w.v) {
					t.Errorf("%s = %v, want %v", w.role, value(s), w.v)
				}
			}
			delta, lo, hi := value(got[0]), value(got[3]), value(got[4])
			for side, s := range map[string]renderSeries{"a": got[1], "b": got[2]} {
				vs := tc.a
				if side == "b" {
					vs = tc.b
				}
				if exact := exactQuantile(vs, 0.75); math.Abs(value(s)-exact)/exact > sketch.RelativeAccuracy+1e-6 {
					t.Errorf("side %s p75 %v, exact %v", side, value(s), exact)
				}
			}
			if !(lo <= delta && delta <= hi) {
				t.Errorf("delta %v outside its interval [%v, %v]", delta, lo, hi)
			}
			switch {
			case tc.sign == 0 && (delta != 0 || lo >= 0 || hi <= 0):
				t.Errorf("same data: delta %v, interval [%v, %v] should be 0 and cover 0", delta, lo, hi)
			case tc.sign != 0 && !(tc.sign*lo > 0 || tc.sign*hi < 0):
				t.Errorf("a 15%% difference: interval [%v, %v] covers 0", lo, hi)
			}
			// The seeded medians differ by 15%: so does p75 of a log-normal, ± sampling.
			slow, fast := value(got[2]), value(got[1])
			if tc.sign < 0 {
				slow, fast = fast, slow
			}
			if rel := slow/fast - 1; tc.sign != 0 && (rel < 0.08 || rel > 0.22 || tc.sign*delta <= 0) {
				t.Errorf("delta %v: the slower side is %.1f%% slower, want 15%% ± 7", delta, 100*rel)
			}
		})
	}

	t.Run("without details: the verdict alone", func(t *testing.T) {
		got := render(t, "comparePercentiles(mergeSeries(rumd.variant.cdn-a.ttfb.p75), mergeSeries(rumd.variant.cdn-b.ttfb.p75))")
		_, verdict := wantCompare(a, b)
		if len(got) != 1 || got[0].Target != verdict+" C" || value(got[0]) <= 0 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("an empty side: too few page views", func(t *testing.T) {
		got := render(t, "comparePercentiles(rumd.variant.cdn-a.ttfb.p75, seriesByTag('name=ttfb','stat=p75','variant=none'), true)")
		want := "too few page views to compare at p75 (a: " + strconv.Itoa(len(a)) + ", b: 0) C"
		if len(got) != 5 || got[0].Target != want {
			t.Fatalf("got %v, want %q first", names(got), want)
		}
		for i, s := range got {
			if (i == 1) == (s.Datapoints[0][0] == nil) {
				t.Errorf("%q = %v: only side a has a value", s.Target, value(s))
			}
		}
	})
	t.Run("no series on either side", func(t *testing.T) {
		if got := render(t, "comparePercentiles(rumd.variant.none.ttfb.p75, rumd.variant.none.ttfb.p75)"); len(got) != 0 {
			t.Errorf("got %v", names(got))
		}
	})
	t.Run("a stat panel's step and a table's read alike", func(t *testing.T) {
		var one, many []renderSeries
		target := "comparePercentiles(rumd.variant.cdn-a.ttfb.p75, rumd.variant.cdn-b.ttfb.p75, true)"
		for mdp, out := range map[int]*[]renderSeries{1: &one, 1000: &many} {
			form := url.Values{"target": {target}, "from": {"-30min"}, "until": {"now"}, "format": {"json"}, "maxDataPoints": {strconv.Itoa(mdp)}}
			if code := e.post(t, "/render", form, out); code != 200 {
				t.Fatalf("status %d", code)
			}
		}
		if len(one) != 5 || len(many) != 5 {
			t.Fatalf("got %d and %d series", len(one), len(many))
		}
		for i := range one {
			if one[i].Target != many[i].Target || value(one[i]) != value(many[i]) {
				t.Errorf("maxDataPoints 1: %q %v; 1000: %q %v", one[i].Target, value(one[i]), many[i].Target, value(many[i]))
			}
		}
	})
}

func TestComparePercentilesErrors(t *testing.T) {
	e := standardEnvSmall(t)
	const a, b = "rumd.variant.cdn-a.ttfb.p75", "rumd.variant.cdn-b.ttfb.p75"
	for _, tc := range []struct {
		name, target, mention string
	}{
		{"counts", "comparePercentiles(rumd.variant.cdn-a.ttfb.count, rumd.variant.cdn-b.ttfb.count)", "is a count"},
		{"sumSeries", "comparePercentiles(sumSeries(rumd.variant.*.ttfb.count), " + b + ")", "computed from numbers"},
		{"constantLine", "comparePercentiles(" + a + ", constantLine(300))", "computed from numbers"},
		{"its own answer", "comparePercentiles(comparePercentiles(" + a + ", " + b + "), " + b + ")", "computed from numbers"},
		{"two percentiles", "comparePercentiles(" + a + ", rumd.variant.cdn-b.ttfb.p95)", "one percentile of one metric"},
		{"two percentiles on a side", "comparePercentiles(rumd.variant.cdn-a.ttfb.{p75,p95}, " + b + ")", "one percentile of one metric"},
		{"two metrics", "comparePercentiles(" + a + ", rumd.variant.cdn-b.lcp.p75)", "one percentile of one metric"},
		{"two views on a side", "comparePercentiles(rumd.{variant,country}.*.ttfb.p75, " + b + ")", "views"},
		{"details not a boolean", "comparePercentiles(" + a + ", " + b + ", 'yes')", "true or false"},
		{"one side", "comparePercentiles(" + a + ")", "takes 2 to 3 arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]string
			form := url.Values{"target": {tc.target}, "from": {"-1h"}, "until": {"now"}, "format": {"json"}}
			if code := e.post(t, "/render", form, &got); code != 400 {
				t.Fatalf("status %d, want 400 (%v)", code, got)
			}
			if got["reason"] != "bad_argument" || !strings.Contains(got["error"], tc.mention) {
				t.Errorf("got %v, want reason bad_argument mentioning %q", got, tc.mention)
			}
		})
	}
}

// verdictForm matches every form of query.Verdict.
var verdictForm = regexp.MustCompile(`^(?:b is (?:slower|faster|higher|lower) at p[0-9.]+ by [0-9.]+(?: ms)? \(95% CI -?[0-9.]+ to -?[0-9.]+(?: ms)?\)` +
	`|no detectable difference at p[0-9.]+ \(95% CI -?[0-9.]+(?: ms)? to -?[0-9.]+(?: ms)?\)` +
	`|too few page views to compare at p[0-9.]+ \(a: [0-9]+, b: [0-9]+\))$`)

// checkCompare checks the comparePercentiles answer in a target against its sides rendered
// alone as one point over the range, which checkSeries checks against the seeded values:
// each side's value must be its side's, the delta their difference inside its interval, the
// verdict one of query.Verdict's forms, and a side compared with itself no difference.
func (e *env) checkCompare(t *testing.T, what, refID, target string, from, until int64, got []renderSeries) {
	t.Helper()
	ex, err := parseTarget(target)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	cmp := findCall(ex, "comparePercentiles")
	if cmp == nil {
		return
	}
	role := map[string]*float64{}
	verdict := ""
	for _, s := range got {
		if r := s.Tags["compare"]; r != "" {
			role[r] = s.Datapoints[0][0]
			if r == roleDelta {
				verdict = strings.TrimSuffix(s.Target, " "+refID)
			}
		}
	}
	if !verdictForm.MatchString(verdict) {
		t.Errorf("%s: verdict %q is none of query.Verdict's forms", what, verdict)
	}
	for i, r := range []string{roleA, roleB} {
		form := url.Values{"target": {cmp.args[i].text}, "from": {strconv.FormatInt(from, 10)}, "until": {strconv.FormatInt(until, 10)}, "format": {"json"}, "maxDataPoints": {"1"}}
		var side []renderSeries
		if code := e.post(t, "/render", form, &side); code != 200 {
			t.Errorf("%s: side %s alone: status %d", what, r, code)
			continue
		}
		e.checkSeries(t, what+" side "+r, side)
		p, ok := role[r]
		if !ok || len(side) != 1 {
			continue // no details, or a side of several series
		}
		if w := side[0].Datapoints[0][0]; (w == nil) != (p == nil) || w != nil && *w != *p {
			t.Errorf("%s: side %s is %v in the comparison, %v alone", what, r, fmtPtr(p), fmtPtr(w))
		}
	}
	d, a, b, lo, hi := role[roleDelta], role[roleA], role[roleB], role[roleCILow], role[roleCIHigh]
	if d != nil && a != nil && b != nil && math.Abs(*d-(*b-*a)) > 1e-6*(math.Abs(*a)+math.Abs(*b)) {
		t.Errorf("%s: delta %v is not b − a = %v − %v", what, *d, *b, *a)
	}
	if d != nil && lo != nil && hi != nil && !(*lo <= *d && *d <= *hi) {
		t.Errorf("%s: delta %v outside its interval [%v, %v]", what, *d, *lo, *hi)
	}
	if strings.TrimSpace(cmp.args[0].text) == strings.TrimSpace(cmp.args[1].text) && (strings.HasPrefix(verdict, "b is") || d != nil && *d != 0) {
		t.Errorf("%s: a side against itself: %q, delta %v", what, verdict, fmtPtr(d))
	}
}

func findCall(e *expr, name string) *expr {
	if e.kind == kCall && e.s == name {
		return e
	}
	for _, a := range e.args {
		if c := findCall(a, name); c != nil {
			return c
		}
	}
	return nil
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}
