//go:build integration

package beaconjs_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// TestEngines runs the same checks in Chromium, Firefox ESR and WebKitGTK (docs/browsers.md):
// /test in a fresh tab is accepted with the metrics the engine has, and its probes count as
// the rules say; the snippet on a cross-origin page sends one beacon on leaving; a return
// from the back-forward cache sends its own; and the engine as automation leaves it is
// refused as a bot. Every check but the last presents the engine as a visitor's browser.
// Each check has checkBudget for its commands; one that fails logs what the browser showed.
func TestEngines(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := e.start(t)
			t.Logf("%s: %s", e.name, b.Version())
			var stuck string // the check that spent its budget: the browser is not trusted after it
			check := func(name string, fn func(*testing.T, engine, browser)) {
				t.Run(name, func(t *testing.T) {
					if stuck != "" {
						t.Fatalf("not run: the browser ran out of time in %q", stuck)
					}
					start := time.Now()
					end := start.Add(checkBudget)
					b.setCheckEnd(end)
					t.Cleanup(func() {
						b.setCheckEnd(time.Time{})
						if !t.Failed() {
							return
						}
						if time.Now().After(end) {
							stuck = name
						}
						t.Logf("failed after %v of its %v budget; the browser shows %s",
							time.Since(start).Round(time.Millisecond), checkBudget, b.Diagnose())
					})
					fn(t, e, b)
				})
			}
			check("test page in a fresh tab", checkTestPage)
			check("snippet sends one beacon on leaving", checkSnippet)
			check("back-forward cache", checkBFCache)
			check("automation is a bot", checkBot)
		})
	}
}

// waitEval evaluates expr until ok accepts its value, for at most d, and returns the value;
// it fails the test with the last value and error when d or the check's budget runs out.
// Errors while a page is being replaced are expected and retried.
func waitEval[T any](t testing.TB, b browser, expr string, d time.Duration, ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(d)
	var lastErr string
	for {
		var v T
		err := b.Eval(expr, &v)
		if err == nil && ok(v) {
			return v
		}
		if err != nil && err.Error() != lastErr {
			lastErr = err.Error()
			t.Logf("%s: %v (retrying)", expr, err)
		}
		if time.Now().After(deadline) || errors.Is(err, errBudgetSpent) {
			t.Fatalf("%s: last value %v, error %v after %v", expr, v, err, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustGo(t testing.TB, b browser, url string) {
	t.Helper()
	if err := b.Goto(url); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
}

// metricValue reads one sample of rumd's /metrics by its exact name and labels as printed,
// e.g. `rumd_metrics_dropped_total{metric="ttfb",reason="concealed"}`; 0 when absent.
func (s *rumdServer) metricValue(t testing.TB, sample string) float64 {
	t.Helper()
	res, err := testutil.HTTP.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return 0
}

func checkTestPage(t *testing.T, e engine, b browser) {
	full, noTAO, bare := mustProbeHost(t, true, true), mustProbeHost(t, true, false), mustProbeHost(t, false, false)
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100, MaskWebdriver: e.maskByPage, Probes: [][2]string{
		{"tao", full.URL + "/probe.gif"},
		{"no-tao", noTAO.URL + "/probe.gif?id={rand}"},
		{"bare", bare.URL + "/probe.gif"},
	}})
	if err := b.NewTab(true); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	mustGo(t, b, rumd.Front+"/test")
	verdict := waitEval(t, b, `document.getElementById("verdict").dataset.verdict`, 30*time.Second,
		func(v string) bool { return v == "accepted" || v == "refused" || v == "unknown" })
	var text string
	b.Eval(`document.getElementById("verdict").textContent`, &text)
	if verdict != "accepted" {
		t.Fatalf("the test page says %q: %s", verdict, text)
	}
	rumd.waitAccepted(t, 1)
	got := rumd.beacons()
	if len(got) != 1 {
		t.Fatalf("browser sent %d beacons, want 1", len(got))
	}
	bc := mustDecodeBeacon(t, got[0])

	rumd.waitTTFB(t, "", "", bc)
	for _, m := range e.vitals {
		rumd.waitSeries(t, m, "", map[string]int{"": 1})
	}
	var limits []string
	if err := b.Eval(`[...document.querySelectorAll("#limits li[data-limit]")].map(li => li.dataset.limit)`, &limits); err != nil {
		t.Fatal(err)
	}
	t.Logf("limits shown: %v", limits)
	for _, m := range e.lacks {
		if _, ok := bc.Vitals[m]; ok {
			t.Errorf("beacon has %s, which %s does not report", m, e.name)
		}
		if !slices.Contains(limits, m) {
			t.Errorf("the page does not say %s lacks %s: %v", e.name, m, limits)
		}
	}
	for _, m := range e.vitals {
		if slices.Contains(limits, m) {
			t.Errorf("the page says %s lacks %s, which it reported", e.name, m)
		}
	}

	type row struct {
		Probe string `json:"probe"`
		Flag  string `json:"flag"`
		Text  string `json:"text"`
	}
	var rows []row
	if err := b.Eval(`[...document.querySelectorAll("#probes tr")].map(r => ({probe: r.dataset.probe, flag: r.dataset.flag, text: r.textContent}))`, &rows); err != nil {
		t.Fatal(err)
	}
	wantBare := "failed"
	total := map[string]int{"tao": 1, "no-tao": 1}
	if e.bareProbeTimed {
		wantBare = "no-tao"
		total["bare"] = 1
	}
	if len(rows) != 3 || rows[0].Flag != "" || rows[1].Flag != "no-tao" || rows[2].Flag != wantBare {
		t.Errorf("probe rows %+v: want tao unflagged, no-tao flagged no-tao, bare flagged %s", rows, wantBare)
	}
	for _, p := range bc.Probes {
		t.Logf("probe %v", p)
	}
	rumd.waitSeries(t, "probe_total", "probe", total)
	rumd.waitSeries(t, "probe_ttfb", "probe", map[string]int{"tao": 1})
	if n := rumd.metricValue(t, `rumd_probes_total{kept="cached_dropped"}`); n != 0 {
		t.Errorf("%v probes taken for cache hits; every probe is fetched no-store with a fresh token", n)
	}
	if e.cspRecorded {
		checkNoCSPError(t, b, rumd) // last: it leaves /test
	}
}

func checkSnippet(t *testing.T, e engine, b browser) {
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100, MaskWebdriver: e.maskByPage})
	web := mustSiteWith(t, rumd.Front, e.maskByPage)
	mustGo(t, b, web.URL+"/page")
	waitEval(t, b, `document.readyState`, 10*time.Second, func(s string) bool { return s == "complete" })
	time.Sleep(500 * time.Millisecond) // the snippet loads async; its vitals settle
	if n := len(rumd.beacons()); n != 0 {
		t.Fatalf("%d beacons sent while the page was visible, want none", n)
	}
	mustGo(t, b, web.URL+"/next")
	rumd.waitAccepted(t, 1)
	var errs string
	if err := b.Eval(`sessionStorage.getItem("errors")`, &errs); err != nil || errs != "" {
		t.Errorf("errors reached the page: %q (%v)", errs, err)
	}
	got := rumd.beacons()
	if len(got) != 1 {
		t.Fatalf("browser sent %d beacons, want 1", len(got))
	}
	bc := mustDecodeBeacon(t, got[0])
	if bc.URL != web.URL+"/page" || bc.Nav != "navigate" || bc.Variant != "cdn-b" {
		t.Errorf("url %q nav %q variant %q", bc.URL, bc.Nav, bc.Variant)
	}
	for _, m := range append([]string{"dom_interactive", "dcl", "load"}, e.vitals...) {
		rumd.waitSeries(t, m, "", map[string]int{"": 1})
	}
}

func checkBFCache(t *testing.T, e engine, b browser) {
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100, MaskWebdriver: e.maskByPage})
	web := mustSiteWith(t, rumd.Front, e.maskByPage)
	mustGo(t, b, web.URL+"/page")
	time.Sleep(300 * time.Millisecond)
	// A mark in the page's own memory: only a page restored from the back-forward cache
	// still holds it when the browser comes back.
	var marked bool
	if err := b.Eval(`(window.rumdTestMark = "kept") === "kept"`, &marked); err != nil || !marked {
		t.Fatalf("mark the page: %v", err)
	}
	mustGo(t, b, web.URL+"/next")
	rumd.waitAccepted(t, 1)
	// Back from the page itself, without waiting for a load event: a restore fires none.
	if err := b.Back(); err != nil {
		t.Fatal(err)
	}
	// WebKitGTK's driver can lose a script sent while it restores the page (seen here under
	// load: the command never answers); the restore is over well within a second.
	time.Sleep(time.Second)
	waitEval(t, b, `location.pathname + " " + document.readyState`, 15*time.Second,
		func(s string) bool { return s == "/page complete" })
	var mark string
	if err := b.Eval(`String(window.rumdTestMark)`, &mark); err != nil {
		t.Fatal(err)
	}
	restored := mark == "kept"
	time.Sleep(500 * time.Millisecond)
	mustGo(t, b, web.URL+"/next")
	rumd.waitAccepted(t, 2)
	got := rumd.beacons()
	if len(got) != 2 {
		t.Fatalf("browser sent %d beacons, want 2", len(got))
	}
	first, second := mustDecodeBeacon(t, got[0]), mustDecodeBeacon(t, got[1])
	// An engine with a back-forward cache may still load the page afresh (Firefox does now
	// and then, seen here under load): the beacon must say what the browser really did.
	want := "back_forward" // a fresh load of the page from history
	if restored {
		want = "bfcache"
	}
	if restored && !e.bfcache {
		t.Errorf("%s restored the page from a back-forward cache it is listed without", e.name)
	}
	if !restored && e.bfcache {
		t.Logf("%s loaded the page afresh instead of restoring it from its back-forward cache", e.name)
	}
	if first.Nav != "navigate" || second.Nav != want || first.ID == second.ID {
		t.Errorf("navs %q, %q, ids %q, %q: want navigate then %s, distinct ids", first.Nav, second.Nav, first.ID, second.ID, want)
	}
	if e.bfcache {
		rumd.waitSeries(t, "fcp", "nav", map[string]int{"navigate": 1, want: 1})
		rumd.waitTTFB(t, "nav", "navigate", first)
	}
}

// waitTTFB waits until the TTFB of bc, the one page load among the beacons rumd took that
// has one, is counted: kept in the ttfb series (under by=value when by is set), or dropped as
// concealed. The drop is the documented outcome where the engine zeroed responseStart
// because its whole-millisecond marks hid a sub-ms loopback response (WebKit; docs/
// browsers.md): then the beacon must say so, and rumd must have counted the drop in
// rumd_metrics_dropped_total while keeping the beacon's other metrics.
func (s *rumdServer) waitTTFB(t testing.TB, by, value string, bc wireBeacon) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kept := s.seriesCounts(t, "ttfb", by)
		dropped := s.metricValue(t, `rumd_metrics_dropped_total{metric="ttfb",reason="concealed"}`)
		total := 0
		for _, n := range kept {
			total += n
		}
		switch {
		case total == 1 && kept[value] == 1 && dropped == 0:
			return
		case total == 0 && dropped == 1:
			rs, _ := bc.NT["responseStart"].(float64)
			if rs != 0 {
				t.Fatalf("ttfb dropped as concealed, but the beacon has responseStart %v", bc.NT["responseStart"])
			}
			t.Logf("ttfb dropped as concealed: responseStart 0, responseEnd %v (a response under the engine's 1 ms marks)", bc.NT["responseEnd"])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ttfb by %q: kept %v, %v dropped as concealed; want %q kept once, or dropped once", by, kept, dropped, value)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkBot(t *testing.T, e engine, b browser) {
	if err := b.NewTab(false); err != nil {
		t.Fatalf("new tab as automation: %v", err)
	}
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100})
	web := mustSite(t, rumd.Front)
	mustGo(t, b, web.URL+"/page")
	time.Sleep(500 * time.Millisecond)
	mustGo(t, b, web.URL+"/next")
	deadline := time.Now().Add(15 * time.Second)
	for {
		acc, rej := rumd.counters(t)
		if acc != 0 {
			t.Fatalf("rumd accepted a beacon from automated %s", e.name)
		}
		if rej["bot"] == 1 && len(rej) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rejected %v, want one bot", rej)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := rumd.beacons()
	if len(got) != 1 {
		t.Fatalf("posted %d beacons, want 1", len(got))
	}
	var bc struct {
		Webdriver bool `json:"webdriver"`
	}
	json.Unmarshal(got[0], &bc)
	t.Logf("automated %s: webdriver %v", e.name, bc.Webdriver)
	if !bc.Webdriver && e.name != "chromium" { // headless Chromium is also known by its User-Agent
		t.Errorf("automated %s sent webdriver false: %s", e.name, fmt.Sprint(string(got[0])))
	}
}

// checkNoCSPError checks that /test, loaded in b, broke none of its Content-Security-Policy
// (the browser's own fetch of /favicon.ico did, before the page named an empty icon), then
// leaves for a page with the same image policy and no icon, where the error must show.
func checkNoCSPError(t *testing.T, b browser, rumd *rumdServer) {
	t.Helper()
	var errs []string
	if err := b.Eval(`window.__csp`, &errs); err != nil || errs == nil {
		t.Fatalf("no CSP violation record on /test (%v): the preload did not run", err)
	}
	if len(errs) != 0 {
		t.Errorf("/test broke its Content-Security-Policy: %q", errs)
	}
	web := mustSiteWith(t, rumd.Front, true)
	mustGo(t, b, web.URL+"/no-icon")
	waitEval(t, b, `window.__csp`, 10*time.Second, func(v []string) bool {
		return len(v) > 0 && strings.Contains(strings.Join(v, " "), "favicon.ico")
	})
}
