//go:build integration

package beaconjs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"rumd/internal/testutil"
)

// keepScreenshot also writes the screenshot of /test where a person can look at it.
var keepScreenshot = flag.String("screenshot", "", "also write the screenshot of /test to this PNG file")

// personUA is a desktop Chromium User-Agent (testutil.PersonUA).
const personUA = testutil.PersonUA

// mustBrowser starts headless Chromium with a fresh profile, passing for a person's browser;
// it is stopped when the test ends.
func mustBrowser(t testing.TB) context.Context {
	t.Helper()
	return testutil.MustBrowser(t, true)
}

// mustBrowserAs starts headless Chromium; person hides the automation from the page
// (navigator.webdriver false, a desktop User-Agent).
func mustBrowserAs(t testing.TB, person bool) context.Context {
	t.Helper()
	return testutil.MustBrowser(t, person)
}

// wireBeacon is the part of wire format v1 these tests check.
type wireBeacon struct {
	V         int                `json:"v"`
	ID        string             `json:"id"`
	URL       string             `json:"url"`
	Sent      float64            `json:"sent"`
	Origin    float64            `json:"origin"`
	Now       float64            `json:"now"`
	Nav       string             `json:"nav"`
	Variant   string             `json:"variant"`
	Webdriver *bool              `json:"webdriver"`
	NT        map[string]any     `json:"nt"`
	NT1       map[string]float64 `json:"nt1"`
	Vitals    map[string]float64 `json:"vitals"`
	Probes    []map[string]any   `json:"probes"`
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// mustDecodeBeacon decodes one recorded body and checks what every beacon must hold.
func mustDecodeBeacon(t testing.TB, body []byte) wireBeacon {
	t.Helper()
	var b wireBeacon
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("beacon %s: %v", body, err)
	}
	t.Logf("beacon: %s", body)
	nowMs := float64(time.Now().UnixMilli())
	switch {
	case b.V != 1:
		t.Errorf("v = %d", b.V)
	case !idRE.MatchString(b.ID):
		t.Errorf("id %q", b.ID)
	case math.Abs(b.Sent-nowMs) > 60e3:
		t.Errorf("sent %v is not within a minute of now %v", b.Sent, nowMs)
	case b.Origin > b.Sent || b.Now <= 0:
		t.Errorf("origin %v, now %v, sent %v", b.Origin, b.Now, b.Sent)
	case math.Abs(b.Sent-(b.Origin+b.Now)) > 1000:
		t.Errorf("sent %v disagrees with origin+now %v", b.Sent, b.Origin+b.Now)
	case b.Webdriver == nil || *b.Webdriver:
		t.Errorf("webdriver = %v, want false", b.Webdriver)
	}
	return b
}

// checkMarks checks Level 2 (or rebased Level 1) marks: present where a plain HTTP load has
// them, in spec order, and none later than the beacon's now.
func checkMarks(t testing.TB, m map[string]float64, now float64) {
	t.Helper()
	order := []string{"fetchStart", "domainLookupStart", "domainLookupEnd", "connectStart", "connectEnd",
		"requestStart", "responseStart", "responseEnd", "domInteractive", "domContentLoadedEventEnd", "loadEventEnd"}
	prev := 0.0
	for _, k := range order {
		v, ok := m[k]
		if !ok {
			t.Errorf("mark %s missing", k)
			continue
		}
		if v < prev || v > now {
			t.Errorf("mark %s = %v: before the previous mark (%v) or after now (%v)", k, v, prev, now)
		}
		prev = v
	}
	if m["responseStart"] <= 0 || m["loadEventEnd"] <= 0 {
		t.Errorf("responseStart %v, loadEventEnd %v: want both present", m["responseStart"], m["loadEventEnd"])
	}
}

func numbers(m map[string]any) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// mustSite serves the fixture pages that carry the snippet or the embed, from their own origin.
func mustSite(t testing.TB, rumdURL string) *httptest.Server {
	t.Helper()
	return mustSiteWith(t, rumdURL, false)
}

// mustSiteWith is mustSite; mask puts the navigator.webdriver mask at the top of each page,
// for an engine that cannot run it before the page's scripts itself.
func mustSiteWith(t testing.TB, rumdURL string, mask bool) *httptest.Server {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), "{{rumd}}", rumdURL)
	}
	pageHTML := read("page.html")
	withPre := func(pre ...string) string {
		all := read("record-errors.html")
		for _, p := range pre {
			all += read(p)
		}
		return strings.Replace(pageHTML, "{{pre}}", all, 1)
	}
	pages := map[string]string{
		"/page":            withPre(),
		"/page-nt1":        withPre("hide-nt2.html"),
		"/page-nobeacon":   withPre("no-sendbeacon.html"),
		"/page-sample-off": withPre("sample-zero.html"),
		"/next":            "<!doctype html><title>next</title><h1>next page</h1>",
		"/embed-host":      read("embed-host.html"),
		// A page under /test's policy for images that names no icon: the browser's own
		// fetch of /favicon.ico breaks the policy (the positive control of the engines'
		// check that /test has no such error).
		"/no-icon": "<!doctype html><html><head><title>no icon</title></head><body>no icon</body></html>",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/no-icon" {
			w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; script-src "+maskHash)
		}
		body := []byte(html)
		if mask {
			body, _ = injectMask(body, "")
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mustProbeHost serves a small GIF, uncacheable, with or without the CORS and Timing-Allow-Origin
// headers a probe host needs for its detail marks to be seen.
func mustProbeHost(t testing.TB, cors, tao bool) *httptest.Server {
	t.Helper()
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		w.Header().Set("Cache-Control", "no-store")
		if cors {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		if tao {
			w.Header().Set("Timing-Allow-Origin", "*")
		}
		w.Write(gif)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mustNavigate loads url and waits for its load event, then lets the page settle (vitals,
// the snippet's async load).
func mustNavigate(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Sleep(500*time.Millisecond)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

// TestSnippetSendsOneBeacon loads a page carrying /rumd.js from another origin, interacts,
// navigates away, and checks that rumd accepted exactly one beacon and aggregated it.
func TestSnippetSendsOneBeacon(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		level1     bool
	}{
		{"navigation timing level 2", "/page", false},
		{"level 1 fallback", "/page-nt1", true},
		{"sendBeacon throws: fetch keepalive", "/page-nobeacon", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100})
			web := mustSite(t, rumd.Front)
			ctx := mustBrowser(t)

			mustNavigate(t, ctx, web.URL+tc.path)
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#work")), chromedp.Sleep(700*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if n := len(rumd.beacons()); n != 0 {
				t.Fatalf("%d beacons sent while the page was visible, want none", n)
			}
			mustNavigate(t, ctx, web.URL+"/next")
			rumd.waitAccepted(t, 1)
			errs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("errors")`))
			if err != nil || errs != "" {
				t.Errorf("errors reached the page: %q (%v)", errs, err)
			}

			got := rumd.beacons()
			if len(got) != 1 {
				t.Fatalf("browser sent %d beacons, want 1", len(got))
			}
			b := mustDecodeBeacon(t, got[0])
			if b.URL != web.URL+tc.path || b.Nav != "navigate" || b.Variant != "cdn-b" {
				t.Errorf("url %q nav %q variant %q", b.URL, b.Nav, b.Variant)
			}
			if tc.level1 {
				if b.NT != nil || b.NT1 == nil {
					t.Fatalf("want nt1 and no nt, got nt=%v nt1=%v", b.NT, b.NT1)
				}
				start := b.NT1["navigationStart"]
				if math.Abs(start-b.Origin) > 50 {
					t.Errorf("navigationStart %v far from origin %v", start, b.Origin)
				}
				rel := map[string]float64{}
				for k, v := range b.NT1 {
					if v > 0 {
						rel[k] = v - start
					}
				}
				checkMarks(t, rel, b.Now+50)
			} else {
				if b.NT == nil || b.NT1 != nil {
					t.Fatalf("want nt and no nt1, got nt=%v nt1=%v", b.NT, b.NT1)
				}
				checkMarks(t, numbers(b.NT), b.Now)
				if b.NT["nextHopProtocol"] != "http/1.1" || b.NT["transferSize"].(float64) <= 0 {
					t.Errorf("nextHopProtocol %v transferSize %v", b.NT["nextHopProtocol"], b.NT["transferSize"])
				}
			}
			v := b.Vitals
			if v["fcp"] <= 0 || v["lcp"] < v["fcp"] || v["lcp"] > b.Now {
				t.Errorf("fcp %v lcp %v (now %v): want 0 < fcp <= lcp <= now", v["fcp"], v["lcp"], b.Now)
			}
			if cls, ok := v["cls"]; !ok || cls != 0 {
				t.Errorf("cls = %v (sent %v), want 0 on a page that does not shift", cls, ok)
			}
			if v["inp"] < 100 {
				t.Errorf("inp = %v, want >= 100 after a click that blocks for 120 ms", v["inp"])
			}

			for _, m := range []string{"ttfb", "dom_interactive", "dcl", "load", "fcp", "lcp", "cls", "inp"} {
				rumd.waitSeries(t, m, "", map[string]int{"": 1})
			}
			rumd.waitSeries(t, "ttfb", "variant", map[string]int{"cdn-b": 1})
		})
	}
}

// TestBFCacheRestoreSendsItsOwnBeacon leaves a page, comes back to it from the back-forward
// cache and leaves again: two beacons, the second with nav "bfcache".
func TestBFCacheRestoreSendsItsOwnBeacon(t *testing.T) {
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100})
	web := mustSite(t, rumd.Front)
	ctx := mustBrowser(t)

	mustNavigate(t, ctx, web.URL+"/page")
	mustNavigate(t, ctx, web.URL+"/next")
	rumd.waitAccepted(t, 1)
	// Back without waiting for a load event: a restore from the cache fires none.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		h, err := cdp.Call(ctx, tg, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The history navigation replaces the execution context under a poll: ask again until the
	// restored page answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		nav, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + " " + document.readyState`))
		if err == nil && nav == "/page complete" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("back to /page: %q, %v", nav, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	mustNavigate(t, ctx, web.URL+"/next")
	rumd.waitAccepted(t, 2)
	got := rumd.beacons()
	if len(got) != 2 {
		t.Fatalf("browser sent %d beacons, want 2", len(got))
	}
	first, second := mustDecodeBeacon(t, got[0]), mustDecodeBeacon(t, got[1])
	if first.Nav != "navigate" || second.Nav != "bfcache" || first.ID == second.ID {
		t.Errorf("navs %q, %q ids %q, %q: want navigate then bfcache, distinct ids", first.Nav, second.Nav, first.ID, second.ID)
	}
	if second.Vitals["fcp"] <= 0 {
		t.Errorf("restore beacon vitals %v: want its own fcp", second.Vitals)
	}
	// The restore's marks all sit at the restore time, after the first page view was sent.
	nt := numbers(second.NT)
	if at := nt["activationStart"]; at <= first.Now || nt["responseStart"] != at || nt["loadEventEnd"] != at || at > second.Now {
		t.Errorf("restore beacon nt %v: want every mark at one restore time after %v", second.NT, first.Now)
	}
	// A restore made no request: rumd counts only its vitals, measured from the restore.
	rumd.waitSeries(t, "fcp", "nav", map[string]int{"navigate": 1, "bfcache": 1})
	rumd.waitSeries(t, "ttfb", "nav", map[string]int{"navigate": 1})
}

// TestTestPageProbes opens /test with two probe hosts, one without Timing-Allow-Origin, and
// checks the page, the beacon, rumd's probe series, and a screenshot.
func TestTestPageProbes(t *testing.T) {
	// A probe host as the README asks (CORS and TAO), one that forgot Timing-Allow-Origin, and
	// one that sends neither header, so that its fetch fails after the response arrived.
	full, noTAO, bare := mustProbeHost(t, true, true), mustProbeHost(t, true, false), mustProbeHost(t, false, false)
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100, Probes: [][2]string{
		{"tao", full.URL + "/probe.gif"},
		{"no-tao", noTAO.URL + "/probe.gif?id={rand}"},
		{"bare", bare.URL + "/probe.gif"},
	}})
	ctx := mustBrowser(t)

	mustNavigate(t, ctx, rumd.Front+"/test")
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`body[data-state="sent"]`))); err != nil {
		t.Fatal(err)
	}
	type row struct{ Probe, Flag, Text string }
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#probes tr")].map(r => ({probe: r.dataset.probe, flag: r.dataset.flag, text: r.textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Probe != "tao" || rows[0].Flag != "" || rows[1].Probe != "no-tao" || rows[1].Flag != "no-tao" ||
		rows[2].Probe != "bare" || rows[2].Flag != "no-tao" {
		t.Errorf("probe rows %+v: want tao unflagged, then no-tao and bare flagged no-tao", rows)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("json").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	waterfall, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("waterfall").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"DNS", "Connect", "Request", "Response", "DOM", "Load", "FCP", "LCP"} {
		if !strings.Contains(waterfall, phase) {
			t.Errorf("waterfall lacks %s: %q", phase, waterfall)
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "test-page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	checkNotBlank(t, shotPath)
	if *keepScreenshot != "" {
		if err := os.WriteFile(*keepScreenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	rumd.waitAccepted(t, 1)
	got := rumd.beacons()
	if len(got) != 1 {
		t.Fatalf("browser sent %d beacons, want 1", len(got))
	}
	var sent, onPage any
	json.Unmarshal(got[0], &sent)
	if err := json.Unmarshal([]byte(shown), &onPage); err != nil || !jsonEqual(sent, onPage) {
		t.Errorf("the page shows a beacon other than the one sent:\nshown %s\nsent  %s", shown, got[0])
	}
	b := mustDecodeBeacon(t, got[0])
	if len(b.Probes) != 3 {
		t.Fatalf("beacon has %d probes, want 3", len(b.Probes))
	}
	if u, _ := b.Probes[1]["url"].(string); strings.Contains(u, "{rand}") || !strings.Contains(u, "?id=") {
		t.Errorf("no-tao probe url %q: want {rand} filled in", u)
	}
	if n := numbers(b.Probes[0]); n["domainLookupStart"] <= 0 || n["responseStart"] <= n["startTime"] || n["transferSize"] <= 0 {
		t.Errorf("tao probe lacks detail: %v", b.Probes[0])
	}

	rumd.waitSeries(t, "probe_total", "probe", map[string]int{"tao": 1, "no-tao": 1, "bare": 1})
	rumd.waitSeries(t, "probe_ttfb", "probe", map[string]int{"tao": 1})
	rumd.waitSeries(t, "probe_connect", "probe", map[string]int{"tao": 1})
}

// TestEmbedSendsOnce loads a page with the README's hidden iframe tag: the iframe runs its
// probes and sends one beacon on its own, without the page being left.
func TestEmbedSendsOnce(t *testing.T) {
	full := mustProbeHost(t, true, true)
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100, Probes: [][2]string{
		{"tao", full.URL + "/probe.gif"},
	}})
	web := mustSite(t, rumd.Front)
	ctx := mustBrowser(t)
	mustNavigate(t, ctx, web.URL+"/embed-host")
	rumd.waitAccepted(t, 1)
	rumd.waitSeries(t, "probe_total", "probe", map[string]int{"tao": 1})
	rumd.waitSeries(t, "ttfb", "", map[string]int{"": 1})
}

// TestSampleZeroSendsNothing checks that a page's global config and the iframe's ?sample=
// can turn reporting off.
func TestSampleZeroSendsNothing(t *testing.T) {
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100})
	web := mustSite(t, rumd.Front)
	ctx := mustBrowser(t)
	mustNavigate(t, ctx, web.URL+"/page-sample-off")
	mustNavigate(t, ctx, rumd.Front+"/test/embed?sample=0")
	time.Sleep(time.Second)
	mustNavigate(t, ctx, "about:blank")
	time.Sleep(time.Second)
	if acc, rej := rumd.counters(t); acc != 0 || len(rej) != 0 || len(rumd.beacons()) != 0 {
		t.Fatalf("accepted %v, rejected %v, posted %d: want nothing sent", acc, rej, len(rumd.beacons()))
	}
	// Positive control in the same browser and server: a sampled page, then leaving it,
	// sends exactly one beacon, so the silence above was the sample rate's doing.
	mustNavigate(t, ctx, web.URL+"/page")
	mustNavigate(t, ctx, "about:blank")
	rumd.waitAccepted(t, 1)
}

// TestAutomatedBrowserIsABot runs Chromium as automation leaves it (navigator.webdriver true,
// "HeadlessChrome" in its User-Agent): the snippet reports it as it is, and rumd counts the
// beacon as a bot rather than as a visitor.
func TestAutomatedBrowserIsABot(t *testing.T) {
	rumd := mustStartRumd(t, rumdConfig{SampleRate: 100, EmbedMaxSample: 100})
	web := mustSite(t, rumd.Front)
	ctx := mustBrowserAs(t, false)
	mustNavigate(t, ctx, web.URL+"/page")
	mustNavigate(t, ctx, web.URL+"/next")
	deadline := time.Now().Add(15 * time.Second)
	for {
		acc, rej := rumd.counters(t)
		if acc != 0 {
			t.Fatalf("rumd accepted a beacon from an automated browser")
		}
		if rej["bot"] == 1 && len(rej) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rejected %v, want one bot", rej)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b := rumd.beacons(); len(b) != 1 || !bytes.Contains(b[0], []byte(`"webdriver":true`)) {
		t.Errorf("posted %q: want one beacon with webdriver true", b)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// checkNotBlank fails unless the PNG at path has a real picture: more than 1% of its pixels
// differ from its most common colour, in more than 16 colours.
func checkNotBlank(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	counts := map[[4]uint32]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			counts[[4]uint32{r, g, b, a}]++
		}
	}
	top := 0
	for _, n := range counts {
		top = max(top, n)
	}
	total := bounds.Dx() * bounds.Dy()
	other := float64(total-top) / float64(total)
	t.Logf("screenshot %s: %dx%d, %d colours, %.1f%% not background", path, bounds.Dx(), bounds.Dy(), len(counts), 100*other)
	if other < 0.01 || len(counts) <= 16 {
		t.Errorf("screenshot %s looks blank", path)
	}
}
