package graphite

import (
	"net/url"
	"testing"
	"time"

	"rumd/internal/series"
)

// TestLegendShowsDecodedValues: the JSON target is the name Grafana puts in its legend, so a
// series named by its path shows its dimension values as the site sent them
// (rumd.page./about.html.ttfb.p75, not rumd.page.~about%2Ehtml.ttfb.p75), while its tag
// "name" keeps the path, which reads the same series back.
func TestLegendShowsDecodedValues(t *testing.T) {
	now := time.Now()
	var recs []series.Record
	for i, page := range []string{"/about.html", "/about.html", "/", "plain"} {
		r := series.Record{Time: now.Unix() - 120}
		r.Labels[series.Page] = page
		r.Set(series.TTFB, float64(100*(i+1)))
		recs = append(recs, r)
	}
	e := mustEnv(t, now, recs)
	var list []renderSeries
	if code := e.get(t, "/render", url.Values{"target": {"rumd.page.*.ttfb.p75"}, "from": {"-10min"}, "format": {"json"}}, &list); code != 200 {
		t.Fatalf("render: %d", code)
	}
	byTarget := map[string]renderSeries{}
	for _, s := range list {
		byTarget[s.Target] = s
	}
	for target, path := range map[string]string{
		"rumd.page./about.html.ttfb.p75": "rumd.page.~about%2Ehtml.ttfb.p75",
		"rumd.page./.ttfb.p75":           "rumd.page.~.ttfb.p75",
		"rumd.page.plain.ttfb.p75":       "rumd.page.plain.ttfb.p75",
	} {
		s, ok := byTarget[target]
		if !ok || s.Tags["name"] != path {
			t.Fatalf("want target %q tagged name=%q; got %+v", target, path, list)
		}
		// The tag reads the same series back.
		var again []renderSeries
		if code := e.get(t, "/render", url.Values{"target": {path}, "from": {"-10min"}, "format": {"json"}}, &again); code != 200 ||
			len(again) != 1 || again[0].Target != target || again[0].Tags["name"] != path {
			t.Fatalf("re-reading %q: %d %+v", path, code, again)
		}
	}
	// A name a function gives is shown as given, even when it looks encoded.
	if code := e.get(t, "/render", url.Values{"target": {"alias(rumd.page.~about%2Ehtml.ttfb.p75,'a%2Eb')"}, "from": {"-10min"}, "format": {"json"}}, &list); code != 200 ||
		len(list) != 1 || list[0].Target != "a%2Eb" {
		t.Fatalf("alias: %d %+v", code, list)
	}
}
