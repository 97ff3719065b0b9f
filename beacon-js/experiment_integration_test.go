//go:build integration

package beaconjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rumd/internal/testutil"
)

// probeDelay is how much later variant b's probe host answers than variant a's.
const probeDelay = 80 * time.Millisecond

// mustSlowProbeHost serves a small uncacheable GIF with the CORS and Timing-Allow-Origin
// headers a probe host needs, after holding each request for delay.
func mustSlowProbeHost(t testing.TB, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "image/gif")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Timing-Allow-Origin", "*")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// compareAnswer is the part of /api/v1/compare's answer this test checks.
type compareAnswer struct {
	A         struct{ Count float64 } `json:"a"`
	B         struct{ Count float64 } `json:"b"`
	Quantiles []struct {
		Q           float64     `json:"q"`
		A           *float64    `json:"a"`
		B           *float64    `json:"b"`
		Delta       *float64    `json:"delta"`
		CI          *[2]float64 `json:"ci"`
		Significant bool        `json:"significant"`
		Enough      bool        `json:"enough"`
	} `json:"quantiles"`
	Verdict string `json:"verdict"`
}

// TestExperimentFindsTheSlowerVariant runs the README's experiment end to end: two probe
// variants on local hosts, b's 80 ms slower; the test page picks one per page view by
// weight and reports it; rumd's compare API must find b slower at p50, significantly, with
// every page view counted on its side.
func TestExperimentFindsTheSlowerVariant(t *testing.T) {
	start := time.Now()
	hostA, hostB, origin := mustSlowProbeHost(t, 0), mustSlowProbeHost(t, probeDelay), mustSlowProbeHost(t, 0)
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100,
		Probes: [][2]string{{"origin", origin.URL + "/p.gif"}},
		Extra: fmt.Sprintf(`experiments:
  - name: cdn-switch
    variants:
      - {name: cdn-a, weight: 50, probes: [{name: asset, url: %q}]}
      - {name: cdn-b, weight: 50, probes: [{name: asset, url: %q}]}
`, hostA.URL+"/p.gif", hostB.URL+"/p.gif?r={rand}")})
	ctx := mustBrowser(t)

	// One view that a person forces by eye, then views picked by weight until each variant
	// has enough of them for an interval at p50 (at most 60: a 50/50 split that leaves a
	// side under 10 of 60 has a probability below 1e-7). Every eighth view is of the hidden
	// iframe, which picks its variant the same way.
	const minViews, perSide, maxViews = 30, 10, 60
	shown := map[string]int{}
	views := 0
	for views < maxViews && (views < minViews || shown["cdn-a"] < perSide || shown["cdn-b"] < perSide) {
		target := rumd.Front + "/test"
		if views == 0 {
			target += "?variant=cdn-b"
		}
		if views%8 == 7 {
			shown[mustEmbedView(t, ctx, rumd.Front+"/test/embed?sample=100")]++
			views++
			continue
		}
		variant, text := mustTestPageView(t, ctx, target)
		if views == 0 && (variant != "cdn-b" || !strings.Contains(text, "forced by ?variant=")) {
			t.Errorf("forced view shows variant %q: %q", variant, text)
		}
		if views == 1 && !strings.Contains(text, "picked at random: weight 50 of 100, 50% of page views") {
			t.Errorf("experiment line %q: want the weight", text)
		}
		shown[variant]++
		views++
	}
	t.Logf("%d page views in %v: %v", views, time.Since(start).Round(time.Millisecond), shown)
	if len(shown) != 2 || shown["cdn-a"] < perSide || shown["cdn-b"] < perSide {
		t.Fatalf("variants shown %v after %d views: want both, at least %d each", shown, views, perSide)
	}

	rumd.waitAccepted(t, float64(views))
	sent := map[string]int{}
	for _, body := range rumd.beacons() {
		b := mustDecodeBeacon(t, body)
		sent[b.Variant]++
		host := map[string]string{"cdn-a": hostA.URL, "cdn-b": hostB.URL}[b.Variant]
		if len(b.Probes) != 2 || b.Probes[0]["name"] != "origin" || b.Probes[1]["name"] != "asset" ||
			host == "" || !strings.HasPrefix(fmt.Sprint(b.Probes[1]["url"]), host+"/") {
			t.Fatalf("variant %q beacon probes %v: want origin, then asset from %s", b.Variant, b.Probes, host)
		}
	}
	if fmt.Sprint(sent) != fmt.Sprint(shown) {
		t.Fatalf("beacons carry variants %v, pages showed %v", sent, shown)
	}

	ans := mustCompare(t, rumd, url.Values{"metric": {"probe_ttfb"}, "from": {"-1h"}, "to": {"+1m"}, "q": {"0.5"},
		"probe": {"asset"}, "a.variant": {"cdn-a"}, "b.variant": {"cdn-b"}}, sent["cdn-a"], sent["cdn-b"])
	p50 := ans.Quantiles[0]
	if p50.Q != 0.5 || !p50.Enough || !p50.Significant || p50.Delta == nil || p50.CI == nil || p50.CI[0] <= 0 {
		t.Errorf("p50 %+v: want b significantly slower", p50)
	}
	// The hosts differ by 80 ms; the machine may add to either side, not take away.
	if d := *p50.Delta; d < 0.75*float64(probeDelay.Milliseconds()) || d > 2*float64(probeDelay.Milliseconds()) {
		t.Errorf("p50 delta %v ms, want about %v", d, probeDelay)
	}
	if !strings.HasPrefix(ans.Verdict, "b is slower at p50 by ") {
		t.Errorf("verdict %q: want b slower at p50", ans.Verdict)
	}
	// The global probe is the same host for both variants: no difference to find there.
	same := mustCompare(t, rumd, url.Values{"metric": {"probe_total"}, "from": {"-1h"}, "to": {"+1m"}, "q": {"0.5"},
		"probe": {"origin"}, "a.variant": {"cdn-a"}, "b.variant": {"cdn-b"}}, sent["cdn-a"], sent["cdn-b"])
	if d := same.Quantiles[0].Delta; d == nil || *d > 0.5*float64(probeDelay.Milliseconds()) || *d < -0.5*float64(probeDelay.Milliseconds()) {
		t.Errorf("origin probe p50 delta %v between variants, want far less than %v", d, probeDelay)
	}
	t.Logf("verdict: %s; origin probe: %s (%v in all)", ans.Verdict, same.Verdict, time.Since(start).Round(time.Millisecond))
}

// mustTestPageView loads one page view of the test page, waits until it has sent its
// beacon and returns the variant it shows and its experiment line.
func mustTestPageView(t testing.TB, ctx context.Context, target string) (variant, text string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(target), chromedp.WaitReady(chromedp.CSS(`body[data-state="sent"]`))); err != nil {
		t.Fatalf("page view %s: %v", target, err)
	}
	type line struct{ Variant, Text string }
	got, err := chromedp.Run(tctx, chromedp.Evaluate[line](`(e => ({variant: e.dataset.variant || "", text: e.textContent}))(document.getElementById("experiment"))`))
	if err != nil {
		t.Fatalf("page view %s: experiment line: %v", target, err)
	}
	variant, text = got.Variant, got.Text
	return variant, text
}

// mustEmbedView loads one page view of the hidden iframe's page, waits until it has sent its
// beacon and returns the variant rumd gave it.
func mustEmbedView(t testing.TB, ctx context.Context, target string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(target), chromedp.WaitReady(chromedp.CSS(`html[data-rumd="sent"]`))); err != nil {
		t.Fatalf("embed view %s: %v", target, err)
	}
	v, err := chromedp.Run(tctx, chromedp.Evaluate[string](`JSON.parse(document.getElementById("rumd-config").textContent).experiment.variant`))
	if err != nil {
		t.Fatalf("embed view %s: variant: %v", target, err)
	}
	return v
}

// mustCompare polls /api/v1/compare until it counts want a and b page views (the
// aggregation lag is ≤ 2 s by docs/design.md §7; this allows more on a busy machine).
func mustCompare(t testing.TB, rumd *rumdServer, q url.Values, wantA, wantB int) compareAnswer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := testutil.HTTP.Get(rumd.URL + "/api/v1/compare?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var ans compareAnswer
		var raw json.RawMessage
		err = json.NewDecoder(res.Body).Decode(&raw)
		res.Body.Close()
		if err == nil && res.StatusCode == 200 {
			err = json.Unmarshal(raw, &ans)
		}
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("compare %s: status %d %s (%v)", q.Encode(), res.StatusCode, raw, err)
		}
		if int(ans.A.Count) == wantA && int(ans.B.Count) == wantB && len(ans.Quantiles) == 1 {
			t.Logf("compare %s: %s", q.Encode(), raw)
			return ans
		}
		if time.Now().After(deadline) {
			t.Fatalf("compare %s: %s; want counts a %d, b %d", q.Encode(), raw, wantA, wantB)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
