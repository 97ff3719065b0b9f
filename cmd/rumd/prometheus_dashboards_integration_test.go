//go:build integration

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"rumd/dashboards"
	"rumd/internal/testutil"
)

// TestPrometheusDashboardsHaveData runs every PromQL target of the shipped Prometheus
// dashboards, with their variables expanded, against a real Prometheus scraping a rumd node
// with its default exposition, and requires each to answer data: a panel that queries a
// family, view or label rumd does not expose fails here.
func TestPrometheusDashboardsHaveData(t *testing.T) {
	r := startRumd(t, "--data", t.TempDir(), "--country-header", "CF-IPCountry", "--trusted-proxies", "127.0.0.1/32")
	prom := testutil.MustPrometheus(t, "/metrics/rum", strings.TrimPrefix(r.url, "http://"))

	// Two bursts a few scrapes apart, so rate() sees an increase of every series.
	burst := func(round int) {
		for i := 0; i < 120; i++ {
			b := testutil.Beacon(time.Now(), fmt.Sprintf("https://example.com/p/%d", i%3), float64(150+i*3+round), float64(1200+i*7))
			b["variant"] = []string{"cdn-a", "cdn-b"}[i%2]
			b["nav"] = []string{"navigate", "reload"}[i%2]
			b["probes"] = []map[string]any{{
				"name": "cdn", "url": "https://a.example.net/p.gif?r=1", "startTime": 2500.0,
				"domainLookupStart": 2500.5, "domainLookupEnd": 2510.0, "connectStart": 2510.0,
				"secureConnectionStart": 2520.0, "connectEnd": 2540.0, "requestStart": 2541.0,
				"responseStart": 2580.0 + float64(i), "responseEnd": 2600.0 + float64(i),
				"transferSize": 343, "decodedBodySize": 43, "nextHopProtocol": "h2",
			}}
			req, _ := http.NewRequest(http.MethodPost, r.url+"/timings", bytes.NewReader(testutil.MustJSON(t, b)))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
			req.Header.Set("CF-IPCountry", []string{"DE", "US", "JP"}[i%3])
			if i%4 == 0 {
				req.Header.Set("Sec-CH-UA-Mobile", "?1")
			}
			resp, err := testutil.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("beacon %d: %d %s", i, resp.StatusCode, msg)
			}
		}
	}
	burst(0)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		res := prom.MustQuery(t, `histogram_count(rumd_probe_total_milliseconds{view="variant,probe"})`, time.Time{})
		return len(res) == 2, fmt.Sprintf("probe series by variant in Prometheus: %d", len(res))
	})
	time.Sleep(3 * time.Second)
	burst(1)
	// The before/after panels read $shift earlier: wait until both bursts are that old.
	const shift = 5 * time.Second
	time.Sleep(shift + 3*time.Second)

	targets, err := dashboards.PromQLTargets(dashboards.PromQLSamples{
		Values:       map[string]string{"probe": "cdn", "variant_a": "cdn-a", "variant_b": "cdn-b", "shift": "5s"},
		RateInterval: time.Minute,
		Range:        5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) < 50 {
		t.Fatalf("only %d PromQL targets in the Prometheus set", len(targets))
	}
	empty := 0
	for _, tg := range targets {
		expr := tg.Expr
		if tg.LabelValues != "" {
			// Grafana lists a variable's options from the label values of these series.
			expr = fmt.Sprintf("count by (%s) (%s)", tg.LabelValues, tg.Expr)
		}
		if res := prom.MustQuery(t, expr, time.Time{}); len(res) == 0 {
			empty++
			t.Errorf("%s / %s %s (%s): no data for %s", tg.Dashboard, tg.Panel, tg.RefID, tg.Selection, expr)
		}
	}
	t.Logf("%d PromQL targets of the Prometheus dashboards run against Prometheus, %d without data", len(targets), empty)
}
