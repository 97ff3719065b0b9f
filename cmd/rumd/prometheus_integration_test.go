//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// mix is one node's traffic: log-normal TTFB around median ms, and a country split.
type mix struct {
	n         int
	median    float64
	sigma     float64
	countries []string // drawn uniformly: repeat a country to weigh it
}

// sentValue is one TTFB sent, with where it went.
type sentValue struct {
	v             float64
	country, node string
}

// send posts m's beacons to r in batches of 40 per country header and returns every value.
func send(t *testing.T, r *rumd, m mix, rng *rand.Rand) []sentValue {
	t.Helper()
	batches := map[string][]map[string]any{}
	var out []sentValue
	flush := func(country string) {
		b := batches[country]
		if len(b) == 0 {
			return
		}
		req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(testutil.MustJSON(t, b)))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
		req.Header.Set("CF-IPCountry", country)
		resp, err := testutil.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("batch of %d to %s: %d %s", len(b), r.url, resp.StatusCode, body)
		}
		batches[country] = b[:0]
	}
	for i := 0; i < m.n; i++ {
		country := m.countries[rng.IntN(len(m.countries))]
		v := math.Round(m.median*math.Exp(rng.NormFloat64()*m.sigma)*10) / 10
		batches[country] = append(batches[country], testutil.Beacon(time.Now(), fmt.Sprintf("https://example.com/p/%d", rng.IntN(50)), v, v+1500))
		out = append(out, sentValue{v, country, strings.TrimPrefix(r.url, "http://")})
		if len(batches[country]) == 40 {
			flush(country)
		}
	}
	for c := range batches {
		flush(c)
	}
	return out
}

// exactQuantile is the nearest-rank quantile of the values that keep selects, each counted
// weight[its node] times (1 for a node not in weight): the smallest value whose cumulative
// weight reaches q of the total, the rank histogram_quantile looks for. (In a sparse tail,
// neighbouring ranks can be several percent apart, so the definition matters.)
func exactQuantile(vals []sentValue, q float64, keep func(sentValue) bool, weight map[string]float64) (float64, int) {
	var s []sentValue
	total := 0.0
	w := func(v sentValue) float64 {
		if f, ok := weight[v.node]; ok {
			return f
		}
		return 1
	}
	for _, v := range vals {
		if keep(v) {
			s = append(s, v)
			total += w(v)
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v < s[j].v })
	cum := 0.0
	for _, v := range s {
		if cum += w(v); cum >= q*total*(1-1e-12) {
			return v.v, len(s)
		}
	}
	return math.NaN(), len(s)
}

// waitProm re-runs expr until every sample's value is want[its label value of by] (by ""
// for a single sample), failing loudly at the deadline.
func waitProm(t *testing.T, p *testutil.Prometheus, expr, by string, want map[string]float64, timeout time.Duration) {
	t.Helper()
	var got map[string]float64
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		got = map[string]float64{}
		for _, s := range p.MustQuery(t, expr, time.Time{}) {
			got[s.Metric[by]] = s.Float()
		}
		same := len(got) == len(want)
		for k, v := range want {
			same = same && got[k] == v
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s Prometheus has %v, want %v\n%s", expr, timeout, got, want, p.Logs())
		}
	}
}

// TestPrometheusMergesNodes runs two rumd nodes with Badger and one stateless node behind
// a real Prometheus scraping /metrics/rum every second, sends each node its own timing mix,
// and reads the merged percentiles back through PromQL: every quantile within 1.5% of the
// exact quantile of all values sent, every count exact. Then one node restarts mid-run and
// the rate-based quantiles of the second half are still those of the second half's values.
func TestPrometheusMergesNodes(t *testing.T) {
	args := []string{"--country-header", "CF-IPCountry", "--trusted-proxies", "127.0.0.1/32", "--prometheus-views", "total;country"}
	dirA := t.TempDir()
	a := startRumd(t, append([]string{"--data", dirA}, args...)...)
	addrA := strings.TrimPrefix(a.url, "http://") // a restarts here, where Prometheus scrapes it
	b := startRumd(t, append([]string{"--data", t.TempDir()}, args...)...)
	dataC := filepath.Join(t.TempDir(), "never")
	c := startRumd(t, append([]string{"--storage", "none", "--data", dataC}, args...)...)
	nodes := []*rumd{a, b, c}
	var targets []string
	for _, n := range nodes {
		targets = append(targets, strings.TrimPrefix(n.url, "http://"))
	}
	prom := testutil.MustPrometheus(t, "/metrics/rum", targets...)

	resp, err := testutil.HTTP.Get(c.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Components map[string]struct{ Attributes map[string]any }
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if ready.Components["storage"].Attributes["mode"] != "none" {
		t.Fatalf("stateless node's readiness: %+v", ready)
	}
	defer func() {
		if _, err := os.Stat(dataC); !os.IsNotExist(err) {
			t.Errorf("stateless node touched its data directory: %v", err)
		}
	}()

	rng := rand.New(rand.NewPCG(13, 14))
	qs := []float64{0.5, 0.75, 0.95, 0.99}
	const fam = "rumd_ttfb_milliseconds"
	mixes := []mix{
		{n: 4500, median: 180, sigma: 0.5, countries: []string{"DE", "DE", "DE", "DE", "DE", "US", "US", "US", "JP", "JP"}},
		{n: 3600, median: 700, sigma: 0.7, countries: []string{"US", "US", "US", "US", "US", "US", "JP", "JP", "JP", "DE"}},
		{n: 1800, median: 90, sigma: 0.3, countries: []string{"JP", "JP", "JP", "JP", "JP", "JP", "JP", "DE", "DE", "DE"}},
	}
	var phase1 []sentValue
	for i, n := range nodes {
		phase1 = append(phase1, send(t, n, mixes[i], rng)...)
	}
	waitProm(t, prom, `histogram_count(sum(`+fam+`{view="total"}))`, "", map[string]float64{"": float64(len(phase1))}, 30*time.Second)
	wantCountries := map[string]float64{}
	for _, v := range phase1 {
		wantCountries[v.country]++
	}
	waitProm(t, prom, `histogram_count(sum by (country) (`+fam+`{view="country"}))`, "country", wantCountries, 10*time.Second)

	// Only the protobuf format carries native histograms: a histogram sample proves it was negotiated.
	raw := prom.MustQuery(t, fam+`{view="total"}`, time.Time{})
	if len(raw) != 3 || len(raw[0].Histogram) != 2 {
		t.Fatalf("raw query: %d series, want 3 native histograms: %+v", len(raw), raw)
	}

	// check compares histogram_quantile of expr, grouped by label by ("" for one group),
	// with the exact quantiles of vals, each node's values weighted as given.
	check := func(stage, expr, by string, vals []sentValue, weight map[string]float64, at time.Time) {
		t.Helper()
		for _, q := range qs {
			res := prom.MustQuery(t, fmt.Sprintf("histogram_quantile(%v, %s)", q, expr), at)
			groups := map[string]bool{}
			for _, v := range vals {
				groups[map[string]string{"": "", "country": v.country}[by]] = true
			}
			if len(res) != len(groups) {
				t.Fatalf("%s p%v: %d results, want %d: %+v", stage, q*100, len(res), len(groups), res)
			}
			for _, s := range res {
				g := s.Metric[by]
				exact, n := exactQuantile(vals, q, func(v sentValue) bool { return by == "" || v.country == g }, weight)
				rel := math.Abs(s.Float()-exact) / exact
				t.Logf("%s %s p%v: Prometheus %.2f, exact %.2f (%.2f%%, %d values)", stage, g, q*100, s.Float(), exact, rel*100, n)
				if rel > 0.015 || math.IsNaN(rel) {
					t.Errorf("%s %s p%v: Prometheus %.3f, exact %.3f: off by %.2f%%", stage, g, q*100, s.Float(), exact, rel*100)
				}
			}
		}
	}
	check("total", `sum(`+fam+`{view="total"})`, "", phase1, nil, time.Time{})
	check("country", `sum by (country) (`+fam+`{view="country"})`, "country", phase1, nil, time.Time{})
	if t.Failed() {
		return
	}

	// Second half: slower traffic, and node A restarts before it (its counts start over).
	// The rate window starts a second after t0, when every target has been scraped with the
	// first half's end state, and ends after every target has been scraped with the second
	// half's end state.
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	a.stop(syscall.SIGTERM)
	a = startRumdAt(t, addrA, append([]string{"--data", dirA}, args...)...)
	nodes[0] = a
	var phase2 []sentValue
	sentTo := map[string]float64{}
	for i, n := range nodes {
		m := mixes[i]
		m.n, m.median = m.n*2/3, m.median*1.8
		vals := send(t, n, m, rng)
		phase2 = append(phase2, vals...)
		sentTo[vals[0].node] = float64(len(vals))
	}
	cumulative := map[string]float64{targets[0]: sentTo[targets[0]]} // A starts over; B and C keep their first half
	for i := 1; i < 3; i++ {
		cumulative[targets[i]] = sentTo[targets[i]] + float64(mixes[i].n)
	}
	waitProm(t, prom, `histogram_count(sum by (instance) (`+fam+`{view="total"}))`, "instance", cumulative, 30*time.Second)
	time.Sleep(3 * time.Second)
	t1 := time.Now()
	window := fmt.Sprintf("%ds", int(math.Ceil(t1.Sub(t0.Add(time.Second)).Seconds())))

	// rate() extrapolates each series' increase to the window's ends, by a factor of about
	// window/(window-1 s) that depends on when each target happened to be scraped. The sum
	// weighs each node's values by its factor, so the exact quantiles are weighted alike.
	// A restart read wrongly (the reset missed, or A's first half counted again) shows here
	// as a factor far from the others.
	factor := map[string]float64{}
	for _, s := range prom.MustQuery(t, `histogram_count(increase(`+fam+`{view="total"}[`+window+`]))`, t1) {
		factor[s.Metric["instance"]] = s.Float() / sentTo[s.Metric["instance"]]
	}
	t.Logf("window %s, extrapolation factors %v", window, factor)
	for _, n := range targets {
		if f := factor[n]; f < 1 || f > 1.5 {
			t.Fatalf("increase of %s over %s is %.3f× what it was sent: %v", n, window, f, factor)
		}
	}
	check("rate total", `sum(rate(`+fam+`{view="total"}[`+window+`]))`, "", phase2, factor, t1)
	check("rate country", `sum by (country) (rate(`+fam+`{view="country"}[`+window+`]))`, "country", phase2, factor, t1)

	// Control: the same quantiles read from the cumulative counts (first half, less node A's,
	// plus the second half) are not the second half's, so the checks above can fail.
	var worst float64
	for _, q := range qs {
		res := prom.MustQuery(t, fmt.Sprintf(`histogram_quantile(%v, sum(%s{view="total"}))`, q, fam), t1)
		exact, _ := exactQuantile(phase2, q, func(sentValue) bool { return true }, factor)
		worst = max(worst, math.Abs(res[0].Float()-exact)/exact)
	}
	if worst < 0.05 {
		t.Fatalf("control: cumulative quantiles within %.2f%% of the second half's; the rate check proves nothing", worst*100)
	}

	// The PromQL examples of docs/scaling-out.md run and answer (the probe one has no probe
	// traffic here, so it only has to parse).
	for _, ex := range []struct {
		expr string
		want int
	}{
		{`histogram_quantile(0.75, sum(rate(rumd_lcp_milliseconds{view="total"}[5m])))`, 1},
		{`histogram_quantile(0.95, sum by (country) (rate(rumd_ttfb_milliseconds{view="country"}[5m])))`, 3},
		{`histogram_count(sum(rate(rumd_lcp_milliseconds{view="total"}[5m])))`, 1},
		{`histogram_sum(sum(rate(rumd_ttfb_milliseconds{view="total"}[5m]))) / histogram_count(sum(rate(rumd_ttfb_milliseconds{view="total"}[5m])))`, 1},
		{`histogram_fraction(0, 2500, sum(rate(rumd_lcp_milliseconds{view="total"}[5m])))`, 1},
		{`histogram_quantile(0.75, sum by (variant) (rate(rumd_probe_total_milliseconds{view="variant,probe", probe="cdn-a"}[10m])))`, 0},
		{`histogram_quantile(0.75, sum by (instance) (rate(rumd_lcp_milliseconds{view="total"}[5m])))`, 3},
		{`histogram_quantile(0.5, sum(rate(rumd_cls{view="total"}[5m])))`, 1},
	} {
		if res := prom.MustQuery(t, ex.expr, t1); len(res) != ex.want {
			t.Errorf("%s: %d results, want %d: %+v", ex.expr, len(res), ex.want, res)
		}
	}
}
