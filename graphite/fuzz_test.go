package graphite

import (
	"context"
	"errors"
	"io"
	"math"
	"net/url"
	"testing"

	"rumd/query"
)

// FuzzRender parses and evaluates arbitrary render targets against a live (small) stack:
// nothing may panic, and every failure must be a caller's mistake (a 400), not an internal
// error.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`aliasSub(rumd.total.ttfb.p95,"(^.*$)","\1 A")`,
		"rumd.page_country.~questions~:id.{DE,US}.lcp.p[79]5",
		"mergeSeries(rumd.page_country.*.*.ttfb.{p50,p75,p95})",
		"groupByNode(rumd.country_device.*.*.inp.p75, 3, 'merge')",
		"groupByTags(seriesByTag('name=lcp','stat=p75','country=~D.*'), 'merge', 'device')",
		"highestMax(aliasByTags(rumd.country.*.lcp.p75, 'country'), 5)",
		"sumSeries(rumd.device.*.ttfb.count)",
		"timeShift(rumd.total.ttfb.p75, '7d')",
		"constantLine(100)",
		"comparePercentiles(timeShift(mergeSeries(rumd.country.*.lcp.p75), '1d'), rumd.variant.*.lcp.p75, true)",
		"limit(sortByMaxima(aliasByNode(rumd.page.*.cls.p99_9, 2, -1)), 3)",
		"alias(rumd.total.ttfb.p75",
		"rumd.page.%zz.ttfb.p75",
		"keepLastValue(rumd.total.lcp.p75, 3)",
		"movingAverage(mergeSeries(rumd.country.*.lcp.p75), '10min')",
		"movingWindow(rumd.total.lcp.count, 5, 'sum', 0.5)",
		"currentAbove(removeBelowValue(scale(offset(rumd.device.*.inp.p75, 1), 0.001), 0.1), 0.2)",
		"threshold(2500.000000)",
		"threshold(4000, 'poor', 'red')",
		"transformNull(maximumAbove(rumd.country.*.ttfb.p95, 100), -1)",
	} {
		f.Add(s)
	}
	e := standardEnvSmall(f)
	f.Fuzz(func(t *testing.T, target string) {
		ex, err := parseTarget(target)
		if err != nil {
			return
		}
		from := e.now.Unix() - 3600
		ec := &evalCtx{ctx: context.Background(), h: e.h, from: from, until: e.now.Unix(),
			step: e.h.stepFor(from, e.now.Unix(), 60), cache: map[string]*query.Result{}}
		list, err := ec.eval(ex)
		var ae *query.Error
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("%q: internal error %v", target, err)
		}
		appendRender(nil, list)
	})
}

// FuzzNodeEncoding checks that every label value survives the path encoding and that an
// encoded node is one path node a Grafana query editor accepts.
func FuzzNodeEncoding(f *testing.F) {
	for _, s := range []string{"", "/", "/questions/:id", "/a.b", "__other__", "100%", "~", "{a,b}", "ü/ö", "a b\tc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n := EncodeNode(v)
		if n == "" {
			t.Fatalf("%q encodes to an empty node", v)
		}
		for i := 0; i < len(n); i++ {
			if c := n[i]; !keepByte(c) && c != '~' && c != '%' && !(c >= 'A' && c <= 'F') {
				t.Fatalf("%q encodes to %q holding %q", v, n, c)
			}
		}
		back, err := DecodeNode(n)
		if err != nil || back != v {
			t.Fatalf("%q → %q → %q, %v", v, n, back, err)
		}
		if g, err := compileGlob(n); err != nil || !g.match(n) {
			t.Fatalf("node %q is not a literal pattern matching itself: %v", n, err)
		}
	})
}

// standardEnvSmall is a stack with a few page views in the live minute and the last hour.
func standardEnvSmall(tb testing.TB) *env {
	now := testNow()
	return mustEnv(tb, now, seedRecords(now, []int64{0, 600}, 20, 3))
}

// FuzzGraphParams reads arbitrary graph parameters (a query string) and draws a graph of
// fixed series with them: nothing may panic, and every refusal is a caller's mistake.
func FuzzGraphParams(f *testing.F) {
	for _, s := range []string{
		"width=800&height=150&bgcolor=FFFFFF&fgcolor=000000&hideGrid=true&colorList=%23999999,%23006699",
		"width=800&height=75&hideGrid=true&hideLegend=true&graphOnly=true&hideAxes=true&bgcolor=EEEEEE&colorList=%23cccccc,%236699cc",
		"format=svg&title=LCP&vtitle=LCP%20p75%20(ms)&yMin=0&yMax=4000&lineWidth=3&tz=Europe/Berlin",
		"areaMode=stacked&colorList=red,green,blue",
		"areaMode=stacked&countsOnly=1&hideLegend=1",
		"areaMode=first&yMin=-5&yMax=-1",
		"width=16&height=16&lineWidth=50",
		"bgcolor=%23ff000080&fgcolor=rose&tz=Pacific/Chatham",
	} {
		f.Add(s)
	}
	now := int64(1_763_712_025)
	gap := math.NaN()
	fixed := func() []*tseries {
		count, _ := parseStat("count")
		p75, _ := parseStat("p75")
		return []*tseries{
			{name: "rumd.total.lcp.p75", tags: map[string]string{"metric": "lcp"}, stat: p75, start: now - 600, step: 60,
				values: []float64{1200, gap, 1800, 2600, gap, gap, 900, 4100, 3000, 2500}},
			{name: "rumd.total.lcp.count", tags: map[string]string{"metric": "lcp"}, stat: count, start: now - 600, step: 60,
				values: []float64{3, 0, 2, 5, 0, 0, 1, 7, 4, 2}},
			{name: "LCP good", cnst: true, color: "green", start: now - 600, step: 300, values: []float64{2500, 2500, 2500}},
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		o, err := parseGraphOptions(q.Get)
		var ae *query.Error
		if err != nil {
			if !errors.As(err, &ae) {
				t.Fatalf("%q: %v is not a caller's mistake", raw, err)
			}
			return
		}
		loc, err := loadTZ(q.Get("tz"))
		if err != nil {
			if !errors.As(err, &ae) {
				t.Fatalf("%q: %v is not a caller's mistake", raw, err)
			}
			return
		}
		// Sizes are checked above; large ones are drawn small so that the fuzzer explores
		// parameters rather than spending seconds per PNG encoding.
		if o.width*o.height > 250_000 {
			o.width, o.height = 400, 300
		}
		format := formatPNG
		if q.Get("format") == formatSVG {
			format = formatSVG
		}
		list := fixed()
		if o.areaMode == "stacked" && q.Has("countsOnly") {
			list = list[1:]
		}
		if err := drawGraph(io.Discard, format, o, loc, list, now-600, now); err != nil && !errors.As(err, &ae) {
			t.Fatalf("%q: %v", raw, err)
		}
	})
}
