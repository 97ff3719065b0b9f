//go:build integration

package graphite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/dashboards"
	"rumd/internal/geoipfile"
	"rumd/internal/series"
	"rumd/internal/testutil"
	"rumd/query"
)

var rumdBin string

func TestMain(m *testing.M) { testutil.RunWithRumd(m, &rumdBin) }

// TestRumdServesDashboards builds the real binary, posts beacons (docs/design.md §2) to
// POST /timings, and replays every Graphite target of the shipped dashboards against it,
// as Grafana would, checking each point against the values posted.
func TestRumdServesDashboards(t *testing.T) {
	dir := t.TempDir()
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country,
		geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"},
		geoipfile.Network{CIDR: "5.6.0.0/16", Country: "US"},
		geoipfile.Network{CIDR: "9.9.9.0/24", Country: "BR"})
	r := testutil.StartRumd(t, rumdBin, "--data", filepath.Join(dir, "data"), "--geoip", geo,
		"--trusted-proxies", "127.0.0.1/32", "--rate-limit", "0", "--rate-limit-prefix", "0")
	base := r.URL
	if v, err := httpGet(base + "/version"); err != nil || v != Version {
		t.Fatalf("rumd serve does not answer the Graphite API's /version: %q, %v", v, err)
	}

	// Post in the middle of a minute, so receive times and the test's clock agree on it.
	for s := time.Now().Second(); s < 5 || s > 40; s = time.Now().Second() {
		time.Sleep(200 * time.Millisecond)
	}
	ips := map[string]string{"DE": "1.2.3.4", "US": "5.6.7.8", "BR": "9.9.9.9"}
	urls := map[string]string{"/questions/:id": "https://example.com/questions/%d", "/": "https://example.com/", "/search": "https://example.com/search?q=x"}
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []series.Record
	for batch := 0; batch < 12; batch++ {
		country := []string{"DE", "US", "BR"}[batch%3]
		var body []map[string]any
		now := time.Now()
		for i := 0; i < 40; i++ {
			page := []string{"/questions/:id", "/", "/search"}[rng.IntN(3)]
			u := urls[page]
			if strings.Contains(u, "%d") {
				u = fmt.Sprintf(u, rng.IntN(1e6))
			}
			ttfb := math.Round(math.Exp(rng.NormFloat64()*0.6+5.7)*10) / 10
			lcp := ttfb + math.Round(math.Exp(rng.NormFloat64()*0.5+7)*10)/10
			b := testutil.Beacon(now, u, ttfb, lcp)
			variant := []string{"cdn-a", "cdn-b"}[rng.IntN(2)]
			b["variant"] = variant
			rec := beaconRecord(now.Unix(), page, country, variant, b)
			if i%3 == 0 { // a probe fetch, as the test page and hidden iframe send (the Probes and experiments dashboard)
				probe := []string{"cdn-a", "cdn-b"}[rng.IntN(2)]
				start := b["now"].(float64) - 1500
				ttfbAt := start + math.Round(math.Exp(rng.NormFloat64()*0.5+4.4)*10)/10
				endAt := ttfbAt + math.Round(math.Exp(rng.NormFloat64()*0.5+2.3)*10)/10
				b["probes"] = []map[string]any{{"name": probe, "startTime": start, "fetchStart": start, "responseStart": ttfbAt, "responseEnd": endAt, "transferSize": 300}}
				pv := series.ProbeValues{Name: probe}
				pv.Set(series.ProbeTTFB, ttfbAt-start)
				pv.Set(series.ProbeTotal, endAt-start)
				rec.Probes = append(rec.Probes, pv)
			}
			body = append(body, b)
			recs = append(recs, rec)
		}
		req, _ := http.NewRequest("POST", base+"/timings", bytes.NewReader(testutil.MustJSON(t, body)))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
		req.Header.Set("X-Forwarded-For", ips[country])
		resp, err := testutil.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("batch %d: %d %s", batch, resp.StatusCode, msg)
		}
	}
	now := time.Now()
	h := &handler{opts: DefaultOptions()}
	e := &env{now: now, h: h, base: base, recs: recs}

	// Visible within 2 s.
	testutil.Eventually(t, 2*time.Second, func() (bool, string) {
		var got []renderSeries
		e.post(t, "/render", grafanaForm("A", "rumd.total.ttfb.count", "-10min", "now", 1), &got)
		ok := len(got) == 1 && got[0].Datapoints[0][0] != nil && *got[0].Datapoints[0][0] == float64(len(recs))
		return ok, fmt.Sprintf("%d beacons not all visible in /render: %+v", len(recs), got)
	})

	names, _ := fs.Glob(dashboards.FS(), "*.json")
	replayed := 0
	for _, name := range names {
		b, _ := fs.ReadFile(dashboards.FS(), name)
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if !usesRumd(d) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			from, _ := query.ParseTime(d.Time.From, now)
			until := now.Unix() + 1
			for _, sel := range e.selections(t, d, from, until) {
				for _, p := range d.Panels {
					if p.Type == "row" || dataSourceUID(d, p.Datasource) != "rumd" {
						continue
					}
					mdp := p.MaxDataPoints
					if mdp == 0 {
						mdp = defaultPanelPoints
					}
					data := 0
					for _, tg := range p.Targets {
						replayed++
						data += e.replay(t, d.Title+"/"+p.Title+" ["+sel.name+"] "+interpolate(tg.Target, sel.vals), tg.RefID, interpolate(tg.Target, sel.vals), from, until, mdp)
					}
					if data == 0 {
						t.Errorf("%s/%s [%s]: no data", d.Title, p.Title, sel.name)
					}
				}
			}
		})
	}
	t.Logf("replayed %d dashboard targets against rumd serve", replayed)
	if resp, err := http.Get(base + "/dashboards/overview.json"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /dashboards/overview.json: %v %v", resp, err)
	}
}

// beaconRecord is what rumd must have recorded of a beacon built by testutil.Beacon, by the
// derivations of docs/design.md §2.
func beaconRecord(at int64, page, country, variant string, b map[string]any) series.Record {
	r := series.Record{Time: at}
	r.Labels[series.Page] = page
	r.Labels[series.Country] = country
	r.Labels[series.Device] = "desktop"
	r.Labels[series.Nav] = "navigate"
	r.Labels[series.Variant] = variant
	nt := b["nt"].(map[string]any)
	v := b["vitals"].(map[string]any)
	f := func(m map[string]any, k string) float64 { return m[k].(float64) }
	r.Set(series.DNS, f(nt, "domainLookupEnd")-f(nt, "domainLookupStart"))
	r.Set(series.Connect, f(nt, "connectEnd")-f(nt, "connectStart"))
	r.Set(series.TLS, f(nt, "connectEnd")-f(nt, "secureConnectionStart"))
	r.Set(series.TTFB, f(nt, "responseStart"))
	r.Set(series.Download, f(nt, "responseEnd")-f(nt, "responseStart"))
	r.Set(series.DOMInteractive, f(nt, "domInteractive"))
	r.Set(series.DCL, f(nt, "domContentLoadedEventEnd"))
	r.Set(series.Load, f(nt, "loadEventEnd"))
	r.Set(series.FCP, f(v, "fcp"))
	r.Set(series.LCP, f(v, "lcp"))
	r.Set(series.CLS, f(v, "cls"))
	r.Set(series.INP, float64(v["inp"].(int)))
	return r
}
