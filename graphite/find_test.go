package graphite

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"rumd/internal/series"
)

// TestFindNarrowsByEarlierNodes: in rumd.page_country.<page>.*, only the countries that
// page was seen in are offered, so a Grafana variable chained on another lists values
// whose panels have data.
func TestFindNarrowsByEarlierNodes(t *testing.T) {
	now := testNow()
	var recs []series.Record
	add := func(page, country string, ago int64) {
		r := series.Record{Time: now.Unix() - ago}
		r.Labels[series.Page], r.Labels[series.Country] = page, country
		r.Labels[series.Device], r.Labels[series.Nav], r.Labels[series.Variant] = "desktop", "navigate", "none"
		r.Set(series.TTFB, 200)
		recs = append(recs, r)
	}
	add("/a", "DE", 0)
	add("/a", "FR", 3600) // stored, an hour ago
	add("/b", "US", 0)
	bfcache := series.Record{Time: now.Unix()} // a bfcache restore: vitals only
	bfcache.Labels[series.Page], bfcache.Labels[series.Country] = "/c", "JP"
	bfcache.Labels[series.Device], bfcache.Labels[series.Nav], bfcache.Labels[series.Variant] = "desktop", "bfcache", "none"
	bfcache.Set(series.FCP, 80)
	recs = append(recs, bfcache)
	e := mustEnv(t, now, recs)
	find := func(q string) string {
		t.Helper()
		var got []struct{ Text string }
		if code := e.post(t, "/metrics/find?from=-6h&until=now", url.Values{"query": {q}}, &got); code != 200 {
			t.Fatalf("find %s: status %d", q, code)
		}
		var s []string
		for _, n := range got {
			s = append(s, n.Text)
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"rumd.page_country.*":       "~a,~b,~c",
		"rumd.page_country.~a.*":    "DE,FR",
		"rumd.page_country.~b.*":    "US",
		"rumd.page_country.~c.*":    "JP",
		"rumd.page_country.~zz.*":   "",
		"rumd.page_country.~a.DE.*": strings.Join(metricNamesFor(false), ","),
		"rumd.country.*":            "DE,FR,JP,US",
	} {
		if got := find(q); got != want {
			t.Errorf("find %s = %q, want %q", q, got, want)
		}
	}
}

func metricNamesFor(probe bool) []string {
	var out []string
	for m := series.Metric(0); m < series.NumMetrics; m++ {
		if m.IsProbe() == probe {
			out = append(out, m.String())
		}
	}
	sort.Strings(out)
	return out
}
