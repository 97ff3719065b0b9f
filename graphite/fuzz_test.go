package graphite

import (
	"context"
	"errors"
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
