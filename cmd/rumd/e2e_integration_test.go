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
	"net/url"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"rumd/internal/geoipfile"
	"rumd/internal/sketch"
	"rumd/internal/testutil"
)

var binary string

func TestMain(m *testing.M) { testutil.RunWithRumd(m, &binary) }

type rumd struct {
	*testutil.Rumd
	t   *testing.T
	url string
}

// startRumd runs the real binary on 127.0.0.1 with no rate limit (the tests post thousands
// of beacons from a few addresses) unless args set one.
func startRumd(t *testing.T, args ...string) *rumd {
	t.Helper()
	p := testutil.StartRumd(t, binary, append([]string{"--rate-limit", "0", "--rate-limit-prefix", "0", "--read-rate-limit", "0", "--read-rate-limit-prefix", "0"}, args...)...)
	return &rumd{Rumd: p, t: t, url: p.URL}
}

// startRumdAt is startRumd on a given address, to restart a node where a scraper expects it.
func startRumdAt(t *testing.T, addr string, args ...string) *rumd {
	t.Helper()
	return startRumd(t, append([]string{"--listen", addr}, args...)...)
}

// stop signals rumd and waits for it; after SIGTERM it must exit cleanly.
func (r *rumd) stop(sig syscall.Signal) {
	r.t.Helper()
	if err := r.Stop(sig); sig == syscall.SIGTERM && err != nil {
		r.t.Fatalf("rumd exited with %v after SIGTERM:\n%s", err, r.Logs())
	}
}

func (r *rumd) post(body []byte, xff string) int {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type summary struct {
	Rows []struct {
		Labels map[string]string
		Count  float64
		Q      map[string]float64
	}
}

func (r *rumd) summary(params url.Values) summary {
	r.t.Helper()
	resp, err := testutil.HTTP.Get(r.url + "/api/v1/summary?" + params.Encode())
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s summary
	if resp.StatusCode != 200 || json.Unmarshal(b, &s) != nil {
		r.t.Fatalf("summary %v: %d %s", params, resp.StatusCode, b)
	}
	return s
}

func exact(vals []float64, q float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	return sketch.ExactQuantile(s, q)
}

// TestEndToEndAccuracy posts a few thousand beacons with known values across pages and
// countries to the real binary and checks the API's p50/p75/p95/p99 against the exact
// quantiles, per group and overall, within 1.1%.
func TestEndToEndAccuracy(t *testing.T) {
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country,
		geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"},
		geoipfile.Network{CIDR: "5.6.0.0/16", Country: "US"},
		geoipfile.Network{CIDR: "2001:db8::/32", Country: "JP"})
	r := startRumd(t, "--data", t.TempDir(), "--geoip", geo, "--trusted-proxies", "127.0.0.1/32")
	ips := map[string]string{"DE": "1.2.3.4", "US": "5.6.7.8", "JP": "2001:db8::1"}
	pages := map[string]string{"/questions/:id": "https://example.com/questions/%d?tab=votes", "/users/:id": "https://example.com/users/%d#top", "/": "https://example.com/"}
	rng := rand.New(rand.NewPCG(11, 12))
	type key struct{ page, country string }
	ttfb := map[key][]float64{}
	var all []float64
	for i := 0; i < 3000; i++ {
		country := []string{"DE", "US", "JP"}[rng.IntN(3)]
		page := []string{"/questions/:id", "/users/:id", "/"}[rng.IntN(3)]
		v := math.Round(math.Exp(rng.NormFloat64()*0.6+5.7)*10) / 10 // ~300 ms median
		u := pages[page]
		if strings.Contains(u, "%d") {
			u = fmt.Sprintf(u, rng.IntN(100000))
		}
		if code := r.post(testutil.MustJSON(t, testutil.Beacon(time.Now(), u, v, v+1500)), ips[country]); code != 204 {
			t.Fatalf("beacon %d: status %d\n%s", i, code, r.Logs())
		}
		ttfb[key{page, country}] = append(ttfb[key{page, country}], v)
		all = append(all, v)
	}
	qs := []float64{0.5, 0.75, 0.95, 0.99}
	check := func(name string, got map[string]float64, vals []float64) {
		for _, q := range qs {
			want := exact(vals, q)
			g := got[fmt.Sprint(q)]
			if rel := math.Abs(g-want) / want; rel > 0.011 {
				t.Errorf("%s p%v: API %v, exact %v (%.2f%%)", name, q*100, g, want, rel*100)
			}
		}
	}
	params := url.Values{"metric": {"ttfb"}, "from": {"-10m"}, "to": {"now"}, "q": {"0.5,0.75,0.95,0.99"}}
	// The open window answers from memory; every beacon must be visible within 2 s.
	var overall summary
	testutil.Eventually(t, 2*time.Second, func() (bool, string) {
		overall = r.summary(params)
		return len(overall.Rows) == 1 && overall.Rows[0].Count == 3000, fmt.Sprintf("3000 beacons not all visible: %+v", overall)
	})
	check("overall", overall.Rows[0].Q, all)
	params.Set("by", "page,country")
	groups := r.summary(params)
	if len(groups.Rows) != 9 {
		t.Fatalf("%d page×country groups, want 9", len(groups.Rows))
	}
	for _, row := range groups.Rows {
		k := key{row.Labels["page"], row.Labels["country"]}
		if row.Count != float64(len(ttfb[k])) {
			t.Fatalf("group %v: count %v, want %d", k, row.Count, len(ttfb[k]))
		}
		check(fmt.Sprint(k), row.Q, ttfb[k])
	}
}

// TestSIGTERMLosesNothing posts beacons, stops rumd with SIGTERM, restarts it on the same
// directory, and finds every accepted beacon counted, then does it again.
func TestSIGTERMLosesNothing(t *testing.T) {
	dir := t.TempDir()
	total := 0
	for round := 1; round <= 2; round++ {
		r := startRumd(t, "--data", dir)
		for i := 0; i < 500; i++ {
			if code := r.post(testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/", 100+float64(i), 1200)), ""); code != 204 {
				t.Fatalf("status %d", code)
			}
			total++
		}
		r.stop(syscall.SIGTERM)
		r = startRumd(t, "--data", dir)
		s := r.summary(url.Values{"metric": {"ttfb"}, "from": {"-1h"}, "to": {"+5m"}})
		if len(s.Rows) != 1 || s.Rows[0].Count != float64(total) {
			t.Fatalf("round %d: after SIGTERM and restart count %+v, want %d\n%s", round, s.Rows, total, r.Logs())
		}
		r.stop(syscall.SIGTERM)
	}
}
