package graphite

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/query"
)

// testNow is the fixed clock of the tests: a recent time, so the aggregator opens its
// window, 25 s into a minute so that relative ranges are not aligned.
func testNow() time.Time {
	return time.Unix(floorTo(time.Now().Unix(), 60)+25, 0)
}

// standardEnv seeds the live minute, stored minutes of the last hours, and the same hours
// one and seven days ago (for timeShift).
func standardEnv(t testing.TB) *env {
	now := testNow()
	offs := []int64{0, 60, 120, 600, 3600, 3 * 3600}
	for _, day := range []int64{86400, 7 * 86400, 28 * 86400} {
		offs = append(offs, day, day+60, day+600, day+3600)
	}
	return mustEnv(t, now, seedRecords(now, offs, 150, 1))
}

// grafanaForm is the body Grafana's backend posts to /render for one query.
func grafanaForm(refID, target, from, until string, maxDataPoints int) url.Values {
	return url.Values{
		"target":        {`aliasSub(` + target + `,"(^.*$)","\1 ` + refID + `")`},
		"from":          {from},
		"until":         {until},
		"format":        {"json"},
		"maxDataPoints": {strconv.Itoa(maxDataPoints)},
	}
}

func TestGrafanaRender(t *testing.T) {
	e := standardEnv(t)
	now := e.now.Unix()
	for _, tc := range []struct {
		name        string
		target      string
		from, until string
		mdp         int
		wantTargets []string // before the " <refId>" suffix
		minPoints   int      // non-null percentile or positive count points checked
	}{
		{"total p95, relative", "rumd.total.ttfb.p95", "-6h", "now", 1253, []string{"rumd.total.ttfb.p95"}, 5},
		{"unix times as Grafana sends them", "rumd.total.lcp.p75", strconv.FormatInt(now-3*3600-300, 10), strconv.FormatInt(now, 10), 800, []string{"rumd.total.lcp.p75"}, 5},
		{"graphite absolute time", "rumd.total.fcp.p50", time.Unix(now-4*3600, 0).UTC().Format("15:04_20060102"), "now", 1000, []string{"rumd.total.fcp.p50"}, 5},
		{"now-1h and -5min", "rumd.total.inp.p99", "now-1h", "now", 100, []string{"rumd.total.inp.p99"}, 3},
		{"country wildcard", "rumd.country.*.lcp.p75", "-2h", "now", 500, []string{"rumd.country.BR.lcp.p75", "rumd.country.DE.lcp.p75", "rumd.country.US.lcp.p75", "rumd.country.XX.lcp.p75"}, 8},
		{"encoded page", "rumd.page.~questions~:id.ttfb.p90", "-1h", "now", 60, []string{"rumd.page.~questions~:id.ttfb.p90"}, 3},
		{"page with a dot", "rumd.page.~blog~:id%2Ehtml.cls.p75", "-1h", "now", 60, []string{"rumd.page.~blog~:id%2Ehtml.cls.p75"}, 3},
		{"braces and classes", "rumd.device.{mobile,tablet}.load.p[59]0", "-1h", "now", 60, []string{"rumd.device.mobile.load.p50", "rumd.device.mobile.load.p90", "rumd.device.tablet.load.p50", "rumd.device.tablet.load.p90"}, 6},
		{"two dimensions", "rumd.page_country.~.DE.ttfb.count", "-1h", "now", 60, []string{"rumd.page_country.~.DE.ttfb.count"}, 3},
		{"any quantile", "rumd.total.ttfb.p99_9", "-1h", "now", 60, []string{"rumd.total.ttfb.p99_9"}, 3},
		{"one point over the range", "rumd.country.DE.lcp.p75", "-6h", "now", 1, []string{"rumd.country.DE.lcp.p75"}, 1},
		{"day steps", "rumd.total.ttfb.p75", "-8d", "now", 9, []string{"rumd.total.ttfb.p75"}, 2},
		{"probe view", "rumd.probe.cdn-a.probe_ttfb.p50", "-1h", "now", 60, []string{"rumd.probe.cdn-a.probe_ttfb.p50"}, 3},
		{"merged selection", "mergeSeries(rumd.page_country.*.{DE,US}.lcp.p75)", "-1h", "now", 60, []string{"mergeSeries(rumd.page_country.*.{DE,US}.lcp.p75)"}, 3},
		{"tagged", "seriesByTag('name=ttfb','stat=p75','device=~mob.*')", "-1h", "now", 60, []string{"ttfb;device=mobile;stat=p75"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []renderSeries
			form := grafanaForm("A", tc.target, tc.from, tc.until, tc.mdp)
			if code := e.post(t, "/render", form, &got); code != 200 {
				t.Fatalf("status %d: %v", code, got)
			}
			if len(got) != len(tc.wantTargets) {
				t.Fatalf("got %d series %v, want %v", len(got), names(got), tc.wantTargets)
			}
			from, _ := query.ParseTime(tc.from, e.now)
			until, _ := query.ParseTime(tc.until, e.now)
			step := e.h.stepFor(from, until, tc.mdp)
			wantPoints := 1
			if step != 0 {
				wantPoints = int((ceilTo(until, 60) - floorTo(from, step) + step - 1) / step)
			} else {
				step = ceilTo(until, 60) - floorTo(from, 60)
			}
			for i, s := range got {
				// Grafana reads the refId back from the last word of the target.
				words := strings.Fields(s.Target)
				if words[len(words)-1] != "A" || strings.TrimSuffix(s.Target, " A") != tc.wantTargets[i] {
					t.Errorf("series %d target %q, want %q + \" A\"", i, s.Target, tc.wantTargets[i])
				}
				if len(s.Datapoints) != wantPoints {
					t.Errorf("%q has %d points, want %d (step %d)", s.Target, len(s.Datapoints), wantPoints, step)
				}
				for j := 1; j < len(s.Datapoints); j++ {
					if d := int64(*s.Datapoints[j][1] - *s.Datapoints[j-1][1]); d != step {
						t.Fatalf("%q: points %d s apart, want the step %d", s.Target, d, step)
					}
				}
				if s.Tags["stat"] == "" {
					t.Errorf("%q has no stat tag: %v", s.Target, s.Tags)
				}
			}
			if n := e.checkSeries(t, tc.name, got); n < tc.minPoints {
				t.Errorf("only %d points with data, want at least %d", n, tc.minPoints)
			}
		})
	}
}

func names(l []renderSeries) []string {
	var out []string
	for _, s := range l {
		out = append(out, s.Target)
	}
	return out
}

func TestStepFor(t *testing.T) {
	h := *standardEnvSmall(t).h
	now := time.Unix(1763683225, 0)
	h.opts.Now = func() time.Time { return now }
	n := now.Unix()
	for _, tc := range []struct {
		name        string
		from, until int64
		mdp         int
		want        int64
	}{
		{"minute floor", n - 3600, n, 1000, 60},
		{"24h at 1440 points", n - 86400, n, 1440, 60},
		{"whole minutes", n - 86400, n, 500, 180},
		{"whole hours", n - 7*86400, n, 100, 7200},
		{"30 days at day steps", n - 30*86400, n, 30, 86400},
		{"whole days", n - 90*86400, n, 40, 3 * 86400},
		{"hour resolution past minute retention", n - 10*86400, n, 100000, 3600},
		{"day resolution past hour retention", n - 100*86400, n, 100000, 86400},
		{"no maxDataPoints is bounded by the engine", n - 7*86400, n, 0, 60},
		{"one point", n - 6*3600, n, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.stepFor(tc.from, tc.until, tc.mdp); got != tc.want {
				t.Errorf("stepFor = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestGrafanaHealthCheck replays the data source's "Save & test".
func TestGrafanaHealthCheck(t *testing.T) {
	e := standardEnv(t)
	now := e.now.Unix()
	for _, target := range []string{"constantLine(100)", `aliasSub(constantLine(100),"(^.*$)","\1 graphite-healthcheck")`} {
		form := url.Values{"target": {target}, "from": {strconv.FormatInt(now-3600, 10)}, "until": {strconv.FormatInt(now, 10)},
			"format": {"json"}, "maxDataPoints": {"100"}}
		var got []renderSeries
		if code := e.post(t, "/render", form, &got); code != 200 {
			t.Fatalf("status %d", code)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0].Target, "100") || len(got[0].Datapoints) != 3 {
			t.Fatalf("constantLine answer %+v", got)
		}
		for _, p := range got[0].Datapoints {
			if *p[0] != 100 {
				t.Errorf("constantLine point %v", *p[0])
			}
		}
		if first, last := int64(*got[0].Datapoints[0][1]), int64(*got[0].Datapoints[2][1]); first != now-3600 || last != now {
			t.Errorf("constantLine spans %d..%d, want %d..%d", first, last, now-3600, now)
		}
	}
}

func TestGrafanaMultipleTargetsAndGET(t *testing.T) {
	e := standardEnv(t)
	q := url.Values{"target": {"alias(rumd.total.ttfb.p50,'median')", "rumd.total.ttfb.count"}, "from": {"-1h"}, "until": {"now"}, "format": {"json"}, "maxDataPoints": {"60"}}
	var got []renderSeries
	if code := e.get(t, "/render", q, &got); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(got) != 2 || got[0].Target != "median" || got[1].Target != "rumd.total.ttfb.count" {
		t.Fatalf("targets %v", names(got))
	}
	e.checkSeries(t, "GET", got)
}

func TestFunctions(t *testing.T) {
	e := standardEnv(t)
	render := func(t *testing.T, target string, mdp int) []renderSeries {
		t.Helper()
		var got []renderSeries
		form := url.Values{"target": {target}, "from": {"-1h"}, "until": {"now"}, "format": {"json"}, "maxDataPoints": {strconv.Itoa(mdp)}}
		if code := e.post(t, "/render", form, &got); code != 200 {
			t.Fatalf("%s: status %d", target, code)
		}
		return got
	}
	t.Run("aliasByNode decodes dimension nodes", func(t *testing.T) {
		got := render(t, "aliasByNode(rumd.page.*.ttfb.p75, 2, -1)", 60)
		want := []string{"/.p75", "/blog/:id.html.p75", "/questions/:id.p75", "/search.p75"}
		if strings.Join(names(got), "|") != strings.Join(want, "|") {
			t.Errorf("names %v, want %v", names(got), want)
		}
	})
	t.Run("groupByNode merges the other dimensions", func(t *testing.T) {
		got := render(t, "groupByNode(rumd.page_country.*.{DE,US}.lcp.p75, 2, 'merge')", 60)
		want := []string{"/", "/blog/:id.html", "/questions/:id", "/search"}
		if strings.Join(names(got), "|") != strings.Join(want, "|") {
			t.Errorf("names %v, want %v", names(got), want)
		}
		if n := e.checkSeries(t, "groupByNode", got); n < 12 {
			t.Errorf("only %d points", n)
		}
		cnt := render(t, "groupByNodes(rumd.page_country.*.*.ttfb.count, 'sum', 3, 4)", 60)
		if strings.Join(names(cnt), "|") != "BR.ttfb|DE.ttfb|US.ttfb|XX.ttfb" {
			t.Errorf("groupByNodes names %v", names(cnt))
		}
		e.checkSeries(t, "groupByNodes", cnt)
	})
	t.Run("groupByTags", func(t *testing.T) {
		got := render(t, "groupByTags(seriesByTag('name=lcp','stat=p75','country=DE'), 'merge', 'device')", 60)
		want := []string{"lcp;device=desktop;stat=p75", "lcp;device=mobile;stat=p75", "lcp;device=tablet;stat=p75"}
		if strings.Join(names(got), "|") != strings.Join(want, "|") {
			t.Errorf("names %v, want %v", names(got), want)
		}
		if got[0].Tags["country"] != "DE" {
			t.Errorf("filter tag missing: %v", got[0].Tags)
		}
		if n := e.checkSeries(t, "groupByTags", got); n < 9 {
			t.Errorf("only %d points", n)
		}
	})
	t.Run("aliasByTags on a real view", func(t *testing.T) {
		got := render(t, "aliasByTags(rumd.country_device.DE.*.ttfb.p75, 'device', 'country')", 60)
		want := []string{"desktop.DE", "mobile.DE", "tablet.DE"}
		if strings.Join(names(got), "|") != strings.Join(want, "|") {
			t.Errorf("names %v, want %v", names(got), want)
		}
	})
	t.Run("highestMax and limit", func(t *testing.T) {
		all := render(t, "rumd.page.*.lcp.p95", 1)
		top := render(t, "highestMax(rumd.page.*.lcp.p95, 2)", 1)
		if len(all) != 4 || len(top) != 2 {
			t.Fatalf("got %d and %d series", len(all), len(top))
		}
		maxOf := func(s renderSeries) float64 { return *s.Datapoints[0][0] }
		for _, s := range all {
			if s.Target != top[0].Target && s.Target != top[1].Target && maxOf(s) > maxOf(top[1]) {
				t.Errorf("%s (%v) beats the second of highestMax %s (%v)", s.Target, maxOf(s), top[1].Target, maxOf(top[1]))
			}
		}
		if maxOf(top[0]) < maxOf(top[1]) {
			t.Errorf("highestMax not sorted: %v < %v", maxOf(top[0]), maxOf(top[1]))
		}
		if l := render(t, "limit(rumd.page.*.lcp.p95, 3)", 1); len(l) != 3 || l[0].Target != all[0].Target {
			t.Errorf("limit 3 gave %v", names(l))
		}
		s := render(t, "sortByMaxima(rumd.page.*.lcp.p95)", 1)
		for i := 1; i < len(s); i++ {
			if maxOf(s[i]) > maxOf(s[i-1]) {
				t.Errorf("sortByMaxima out of order at %d", i)
			}
		}
	})
	t.Run("sumSeries of counts equals the total", func(t *testing.T) {
		sum := render(t, "sumSeries(rumd.device.*.ttfb.count)", 60)
		total := render(t, "rumd.total.ttfb.count", 60)
		if len(sum) != 1 || sum[0].Target != "sumSeries(rumd.device.*.ttfb.count)" {
			t.Fatalf("sumSeries answered %v", names(sum))
		}
		nonzero := 0
		for i, p := range total[0].Datapoints {
			if sp := sum[0].Datapoints[i]; *sp[1] != *p[1] || sp[0] == nil || *sp[0] != *p[0] {
				t.Errorf("point %d at %v: sum %v, total %v", i, *p[1], sp[0], *p[0])
			}
			if *p[0] > 0 {
				nonzero++
			}
		}
		if nonzero < 3 {
			t.Errorf("only %d steps with data", nonzero)
		}
	})
	t.Run("timeShift reads the past", func(t *testing.T) {
		got := render(t, "timeShift(rumd.total.ttfb.p75, '1d')", 60)
		if len(got) != 1 || got[0].Target != `timeShift(rumd.total.ttfb.p75, "-1d")` {
			t.Fatalf("timeShift answered %v", names(got))
		}
		if n := e.checkSeries(t, "timeShift", got); n < 3 {
			t.Errorf("only %d points a day ago", n)
		}
		first := int64(*got[0].Datapoints[0][1])
		if first < e.now.Unix()-3660 {
			t.Errorf("shifted points start at %d, before the asked range", first)
		}
	})
	t.Run("aliasSub with groups", func(t *testing.T) {
		got := render(t, `aliasSub(rumd.country.DE.lcp.p75, "rumd\.country\.(\w+)\.(\w+)\..*", "\2 in \1")`, 60)
		if len(got) != 1 || got[0].Target != "lcp in DE" {
			t.Errorf("aliasSub gave %v", names(got))
		}
	})
}

func TestRenderErrors(t *testing.T) {
	e := standardEnv(t)
	for _, tc := range []struct {
		name, target, reason, mention string
	}{
		{"unknown function names the supported ones", "holtWintersForecast(rumd.total.ttfb.p95)", "unknown_function", "aliasSub, comparePercentiles, constantLine, currentAbove, currentBelow, groupByNode, groupByNodes, groupByTags, highestMax, keepLastValue, limit, maximumAbove, mergeSeries, movingAverage, movingWindow, offset, removeAboveValue, removeBelowValue, scale, seriesByTag, sortByMaxima, sumSeries, threshold, timeShift, transformNull"},
		{"averaging percentiles", "groupByNode(rumd.page_country.*.*.lcp.p75, 2, 'average')", "bad_argument", "never averages percentiles"},
		{"summing percentiles by group", "groupByNode(rumd.page_country.*.*.lcp.p75, 2, 'sum')", "not_summable", "use 'merge'"},
		{"grouping a computed list", "groupByNode(alias(rumd.page.*.lcp.p75, 'x'), 2)", "bad_argument", "path or seriesByTag"},
		{"sumSeries of percentiles", "sumSeries(rumd.country.*.ttfb.p95)", "not_summable", "percentiles cannot be added"},
		{"bad statistic", "rumd.total.ttfb.p101", "bad_path", "p101"},
		{"wrong prefix", "carbon.agents.x", "bad_path", "rumd"},
		{"no such view shape", "rumd.total.DE.ttfb.p75", "bad_path", "views: total, page, country"},
		{"no view for tags", "seriesByTag('name=ttfb','stat=p75','nav=reload','variant=cdn-a')", "no_view", "no view holds [nav,variant]"},
		{"unbalanced", "alias(rumd.total.ttfb.p75", "bad_target", "missing )"},
		{"literal target", "'hello'", "bad_target", "literal"},
		{"bad argument", "limit(rumd.total.ttfb.p75, 'x')", "bad_argument", "integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]string
			form := url.Values{"target": {tc.target}, "from": {"-1h"}, "until": {"now"}, "format": {"json"}}
			if code := e.post(t, "/render", form, &got); code != 400 {
				t.Fatalf("status %d, want 400 (%v)", code, got)
			}
			if got["reason"] != tc.reason || !strings.Contains(got["error"], tc.mention) {
				t.Errorf("got %v, want reason %s mentioning %q", got, tc.reason, tc.mention)
			}
		})
	}
	for _, q := range []url.Values{
		{"target": {"rumd.total.ttfb.p75"}, "from": {"yesterday-ish"}},
		{"target": {"rumd.total.ttfb.p75"}, "from": {"now"}, "until": {"-1h"}},
		{"target": {"rumd.total.ttfb.p75"}, "format": {"pickle"}},
		{"from": {"-1h"}},
	} {
		var got map[string]string
		if code := e.get(t, "/render", q, &got); code != 400 || got["reason"] == "" || got["error"] == "" {
			t.Errorf("%v: status %d, body %v", q, code, got)
		}
	}
}

func TestFindExpandTags(t *testing.T) {
	e := standardEnv(t)
	type node struct {
		Text       string `json:"text"`
		ID         string `json:"id"`
		Leaf       int    `json:"leaf"`
		Expandable int    `json:"expandable"`
	}
	find := func(t *testing.T, q string) []node {
		t.Helper()
		var got []node
		// Grafana posts the query as a form and the range in the URL.
		if code := e.post(t, "/metrics/find?from=-1h&until=now", url.Values{"query": {q}}, &got); code != 200 {
			t.Fatalf("find %s: status %d", q, code)
		}
		return got
	}
	texts := func(l []node) string {
		var s []string
		for _, n := range l {
			s = append(s, n.Text)
		}
		return strings.Join(s, ",")
	}
	if got := find(t, "*"); texts(got) != "rumd" || got[0].Expandable != 1 || got[0].Leaf != 0 {
		t.Errorf("root: %+v", got)
	}
	var views []string
	for _, v := range series.DefaultViews() {
		views = append(views, viewName(v))
	}
	if got := texts(find(t, "rumd.*")); got != strings.Join(views, ",") {
		t.Errorf("views: %s, want %s", got, strings.Join(views, ","))
	}
	if got := texts(find(t, "rumd.page.*")); got != "~,~blog~:id%2Ehtml,~questions~:id,~search" {
		t.Errorf("pages: %s", got)
	}
	for _, n := range find(t, "rumd.page.*") {
		if v, err := DecodeNode(n.Text); err != nil || EncodeNode(v) != n.Text {
			t.Errorf("page node %q does not round-trip: %q %v", n.Text, v, err)
		}
	}
	if got := texts(find(t, "rumd.country.{DE,US}")); got != "DE,US" {
		t.Errorf("country braces: %s", got)
	}
	if got := texts(find(t, "rumd.probe.cdn-a.*")); got != "probe_dns,probe_connect,probe_tls,probe_ttfb,probe_total" {
		t.Errorf("probe metrics: %s", got)
	}
	leaves := find(t, "rumd.total.ttfb.*")
	if texts(leaves) != "count,p50,p75,p90,p95,p99" || leaves[0].Leaf != 1 || leaves[0].Expandable != 0 || leaves[0].ID != "rumd.total.ttfb.count" {
		t.Errorf("stats: %+v", leaves)
	}
	if got := texts(find(t, "rumd.total.ttfb.p99_9")); got != "p99_9" {
		t.Errorf("literal percentile: %s", got)
	}
	if got := find(t, "rumd.country.ZZ.*"); len(got) != 0 {
		t.Errorf("unseen country: %+v", got)
	}

	var exp struct {
		Results []string `json:"results"`
	}
	if code := e.get(t, "/metrics/expand", url.Values{"query": {"rumd.nav.*.ttfb.p75"}, "leavesOnly": {"1"}}, &exp); code != 200 {
		t.Fatalf("expand status %d", code)
	}
	if got := strings.Join(exp.Results, ","); got != "rumd.nav.back_forward.ttfb.p75,rumd.nav.bfcache.ttfb.p75,rumd.nav.navigate.ttfb.p75,rumd.nav.reload.ttfb.p75" {
		t.Errorf("expand: %s", got)
	}

	var tags []string
	e.get(t, "/tags/autoComplete/tags", url.Values{"tagPrefix": {"c"}}, &tags)
	if strings.Join(tags, ",") != "country" {
		t.Errorf("tags: %v", tags)
	}
	e.post(t, "/tags/autoComplete/tags", url.Values{}, &tags)
	if strings.Join(tags, ",") != "country,device,name,nav,page,probe,stat,variant" {
		t.Errorf("all tags: %v", tags)
	}
	var vals []string
	e.get(t, "/tags/autoComplete/values", url.Values{"tag": {"country"}, "valuePrefix": {""}}, &vals)
	if strings.Join(vals, ",") != "BR,DE,US,XX" {
		t.Errorf("country values: %v", vals)
	}
	e.get(t, "/tags/autoComplete/values", url.Values{"tag": {"name"}, "valuePrefix": {"probe_t"}}, &vals)
	if strings.Join(vals, ",") != "probe_tls,probe_ttfb,probe_total" {
		t.Errorf("name values: %v", vals)
	}
}

func TestFunctionsAndVersion(t *testing.T) {
	e := standardEnv(t)
	var fns map[string]struct {
		Name   string `json:"name"`
		Group  string `json:"group"`
		Params []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"params"`
	}
	if code := e.get(t, "/functions", nil, &fns); code != 200 {
		t.Fatalf("status %d", code)
	}
	var got []string
	for k, f := range fns {
		if f.Name != k || f.Group == "" {
			t.Errorf("function %q described as %+v", k, f)
		}
		got = append(got, k)
	}
	want := "alias,aliasByNode,aliasByTags,aliasSub,comparePercentiles,constantLine,currentAbove,currentBelow,groupByNode,groupByNodes,groupByTags,highestMax,keepLastValue,limit,maximumAbove,mergeSeries,movingAverage,movingWindow,offset,removeAboveValue,removeBelowValue,scale,seriesByTag,sortByMaxima,sumSeries,threshold,timeShift,transformNull"
	if strings.Join(sorted(got), ",") != want {
		t.Errorf("/functions lists %v, want %s", sorted(got), want)
	}
	// Every listed function evaluates: none is listed without being supported.
	for _, name := range sorted(got) {
		if _, ok := functions[name]; !ok {
			t.Errorf("%s listed but not evaluated", name)
		}
	}
	resp, err := httpGet(e.base + "/version")
	if err != nil || resp != Version {
		t.Errorf("/version = %q, %v", resp, err)
	}
}

func sorted(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMaxPoints(t *testing.T) {
	e := standardEnvSmall(t)
	h := *e.h
	h.opts.MaxPoints = 500
	from := e.now.Unix() - 3600
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"rumd.total.ttfb.p75", true},
		{"rumd.country.*.ttfb.*", false},
		{"seriesByTag('name=~.*','stat=p75')", false},
	} {
		ex, err := parseTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		ec := &evalCtx{ctx: t.Context(), h: &h, from: from, until: e.now.Unix(), step: 60, cache: map[string]*query.Result{}}
		_, err = ec.eval(ex)
		var ae *query.Error
		if tc.ok && err != nil || !tc.ok && (!errors.As(err, &ae) || ae.Reason != query.TooManyPoints) {
			t.Errorf("%s: %v", tc.target, err)
		}
	}
}
