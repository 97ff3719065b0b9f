//go:build integration

package home_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

// screenshotPath also writes the full-page screenshot of / there (the README's docs/img/home.png).
var screenshotPath = flag.String("screenshot", "", "write the home page's screenshot to this PNG file")

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	testutil.RunWithRumd(m, &binary)
}

// personUA is a desktop Chromium's User-Agent: rumd files "HeadlessChrome" under bots.
const personUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

type rumd struct {
	url   string
	token string
}

// startRumd runs the real binary on 127.0.0.1 with a GeoIP file placing three test ranges,
// trusting 127.0.0.1's X-Forwarded-For so beacons can come from those ranges.
func startRumd(t *testing.T, args ...string) *rumd {
	t.Helper()
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country,
		geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"},
		geoipfile.Network{CIDR: "5.6.0.0/16", Country: "US"},
		geoipfile.Network{CIDR: "2001:db8::/32", Country: "JP"})
	p := testutil.StartRumd(t, binary, append([]string{"--data", t.TempDir(), "--geoip", geo,
		"--trusted-proxies", "127.0.0.1/32", "--rate-limit", "0", "--rate-limit-prefix", "0"}, args...)...)
	return &rumd{url: p.URL}
}

// post sends one beacon body from client address ip, as a person's browser.
func (r *rumd) post(t *testing.T, body []byte, ip string, mobile bool) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/timings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", personUA)
	req.Header.Set("X-Forwarded-For", ip)
	if mobile {
		req.Header.Set("Sec-CH-UA-Mobile", "?1")
	}
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *rumd) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.url+path, nil)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// seed posts beacons of known values: 3 countries, 3 page groups, both devices, two
// navigation types, and 3 malformed bodies.
func (r *rumd) seed(t *testing.T) (accepted int) {
	t.Helper()
	now := time.Now()
	ips := []string{"1.2.3.4", "5.6.7.8", "2001:db8::9"}
	pages := []string{"https://shop.example/", "https://shop.example/cart", "https://shop.example/product/42"}
	for i := 0; i < 60; i++ {
		ttfb := 150 + float64(i%7)*90 + float64(i%3)*400 // 150 .. 1490 ms
		lcp := 900 + float64(i%5)*700 + float64(i%3)*600 // 900 .. 4900 ms: all three bands
		b := testutil.Beacon(now.Add(-time.Duration(i)*time.Second), pages[i%3], ttfb, lcp)
		b["vitals"].(map[string]any)["inp"] = 40 + float64(i%6)*90
		b["vitals"].(map[string]any)["cls"] = float64(i%4) * 0.06
		if i%4 == 0 {
			b["nav"] = "reload"
		}
		if code := r.post(t, testutil.MustJSON(t, b), ips[i%len(ips)], i%3 == 1); code != http.StatusNoContent {
			t.Fatalf("beacon %d: status %d", i, code)
		}
		accepted++
	}
	for i := 0; i < 3; i++ {
		if code := r.post(t, []byte("{not json"), ips[0], false); code != http.StatusBadRequest {
			t.Fatalf("malformed beacon: status %d", code)
		}
	}
	return accepted
}

// consoleWatch collects the page's console errors, uncaught exceptions and error log entries
// (failed loads, CSP violations).
type consoleWatch struct {
	mu   sync.Mutex
	errs []string
}

func (w *consoleWatch) add(s string) {
	w.mu.Lock()
	w.errs = append(w.errs, s)
	w.mu.Unlock()
}

func (w *consoleWatch) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}

func mustBrowser(t *testing.T, w *consoleWatch) context.Context {
	t.Helper()
	ctx := testutil.MustChromium(t,
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"),
		chromedp.Flag("disable-blink-features", "AutomationControlled"), chromedp.UserAgent(personUA),
		chromedp.WindowSize(1280, 900))
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				w.add("console.error " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			w.add("exception " + e.ExceptionDetails.Text + " " + exceptionText(e.ExceptionDetails))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				w.add("log " + e.Entry.Text + " " + e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitLoaded waits until the page has drawn n rounds of data (body[data-loaded] >= n).
func waitLoaded(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second) // the page refreshes every 15 s
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](fmt.Sprintf("Number(document.body.dataset.loaded || 0) >= %d", n), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('updated').textContent`))
		t.Fatalf("the page did not load its data: %v (page says %q)", err, msg)
	}
}

type summary struct {
	Rows []struct {
		Labels map[string]string  `json:"labels"`
		Count  float64            `json:"count"`
		Q      map[string]float64 `json:"q"`
	} `json:"rows"`
}

// fewViews is home.FewViews, the count under which the page marks a percentile "few views".
const fewViews = 20

// ms is how the page prints a millisecond value in its tables.
func ms(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func TestHomePageShowsTheData(t *testing.T) {
	r := startRumd(t)
	accepted := r.seed(t)
	var w consoleWatch
	ctx := mustBrowser(t, &w)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitLoaded(ctx, t, 1)

	// Tables: every row and cell the page shows equals the API's answer, and the API's rows
	// are all there (countries and devices are short lists; pages are the 10 slowest).
	tables, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]map[string]map[string]string](`(() => {
		const out = {};
		for (const id of ['t-country', 't-page', 't-device', 't-nav']) {
			const rows = {};
			for (const tr of document.querySelectorAll('#' + id + ' tbody tr[data-key]')) {
				const cells = {};
				for (const td of tr.querySelectorAll('td[data-metric]')) {
					const v = td.querySelector('.v');
					cells[td.dataset.metric] = v ? v.textContent : td.textContent;
					const n = td.querySelector('small.n');
					if (n) cells[td.dataset.metric + ':n'] = n.textContent;
				}
				rows[tr.dataset.key] = cells;
			}
			out[id] = rows;
		}
		return out;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := map[string][]string{"country": {"DE", "US", "JP"}, "device": {"desktop", "mobile"}, "nav": {"navigate", "reload"}}
	for _, dim := range []string{"country", "page", "device", "nav"} {
		shown := tables["t-"+dim]
		var views float64
		for _, metric := range []string{"ttfb", "lcp", "inp"} {
			var s summary
			r.getJSON(t, "/api/v1/summary?metric="+metric+"&from=-1h&q=0.75&by="+dim, &s)
			if len(s.Rows) == 0 || len(s.Rows) != len(shown) {
				t.Fatalf("%s by %s: API has %d rows, page shows %d: %v", metric, dim, len(s.Rows), len(shown), shown)
			}
			for _, row := range s.Rows {
				key := row.Labels[dim]
				cells, ok := shown[key]
				if !ok {
					t.Fatalf("%s %q is in the API but not on the page: %v", dim, key, shown)
				}
				if got, want := cells[metric], ms(row.Q["0.75"]); got != want {
					t.Errorf("%s %s p75: page %q, API %q", dim, key, got, want)
				}
				// Beside every percentile its count, marked "few views" under the threshold.
				want := "n=" + ms(row.Count)
				if row.Count < fewViews {
					want += " few views"
				}
				if got := cells[metric+":n"]; got != want {
					t.Errorf("%s %s %s count: page %q, want %q (API count %v)", dim, key, metric, got, want, row.Count)
				}
				if metric == "ttfb" {
					views += row.Count
					if got, want := cells["views"], ms(row.Count); got != want {
						t.Errorf("%s %s views: page %q, API %q", dim, key, got, want)
					}
				}
			}
		}
		if int(views) != accepted {
			t.Errorf("%s: views add up to %v, %d beacons were accepted", dim, views, accepted)
		}
		for _, k := range wantKeys[dim] {
			if _, ok := shown[k]; !ok {
				t.Errorf("%s %q missing from the page: %v", dim, k, shown)
			}
		}
	}

	// The seed has both sides of the "few views" threshold: 15 reloads, 20 views per country.
	if got := tables["t-nav"]["reload"]["ttfb:n"]; got != "n=15 few views" {
		t.Errorf("navigation reload (15 views): TTFB count shows %q, want \"n=15 few views\"", got)
	}
	if got := tables["t-country"]["DE"]["lcp:n"]; got != "n=20" {
		t.Errorf("country DE (20 views): LCP count shows %q, want \"n=20\" without the marker", got)
	}
	// Evaluate, not Text: a missing element must fail the test, not wait for it forever.
	legend, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('few-n')?.textContent ?? ''`))
	if legend != strconv.Itoa(fewViews) {
		t.Errorf("the legend names %q views as the threshold, want %d", legend, fewViews)
	}

	// Beacons: accepted and rejected by reason, as /api/v1/status counts them.
	var st struct {
		Beacons struct {
			Accepted int64            `json:"accepted"`
			Rejected map[string]int64 `json:"rejected"`
		} `json:"beacons"`
		GeoIP *struct {
			Built int64 `json:"built"`
		} `json:"geoip"`
		FewViews int `json:"few_views"`
	}
	r.getJSON(t, "/api/v1/status", &st)
	if st.FewViews != fewViews {
		t.Errorf("status few_views %d, want %d", st.FewViews, fewViews)
	}
	if st.Beacons.Accepted != int64(accepted) || st.Beacons.Rejected["malformed"] != 3 {
		t.Fatalf("status counts %d accepted, %v rejected; sent %d good and 3 malformed", st.Beacons.Accepted, st.Beacons.Rejected, accepted)
	}
	beaconCells, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#t-beacons tr[data-key]')].map(tr => [tr.dataset.key, tr.querySelector('td[data-metric=count]').textContent]))`))
	if beaconCells["accepted"] != ms(float64(accepted)) || beaconCells["malformed"] != "3" {
		t.Errorf("beacons table shows %v, want accepted %d and malformed 3", beaconCells, accepted)
	}
	// Live state: the GeoIP database and its build date.
	geo, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#t-live tr[data-key="geoip-built"] td`)))
	if st.GeoIP == nil || !strings.HasPrefix(geo, time.Unix(st.GeoIP.Built, 0).UTC().Format("2006-01-02")) {
		t.Errorf("live table shows GeoIP build %q; status says %+v", geo, st.GeoIP)
	}
	// Cards: last hour's p75 LCP.
	var lcp summary
	r.getJSON(t, "/api/v1/summary?metric=lcp&from=-1h&q=0.75", &lcp)
	card, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.card[data-metric="lcp"] .val`)))
	if want := ms(lcp.Rows[0].Q["0.75"]) + " ms"; card != want {
		t.Errorf("LCP card shows %q, API says %q", card, want)
	}
	cardN, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.card[data-metric="lcp"] .n small.n')?.textContent ?? ''`))
	if want := ms(lcp.Rows[0].Count) + " views"; cardN != want {
		t.Errorf("LCP card count %q, want %q", cardN, want)
	}

	// Charts: each has its point(s), and the pixels show the line over the three bands.
	points, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('.chart')].map(c => [c.dataset.metric, c.dataset.points]))`))
	for _, m := range []string{"ttfb", "fcp", "lcp", "inp", "cls"} {
		if n, _ := strconv.Atoi(points[m]); n < 1 {
			t.Errorf("chart %s has %q points drawn", m, points[m])
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`.chart[data-metric="lcp"]`)))
	if err != nil {
		t.Fatal(err)
	}
	checkChartPixels(t, shot)

	// Positive control for the console check: an error the page logs is seen.
	chromedp.Run(ctx, chromedp.Evaluate[any](`console.error('rumd-control')`))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(w.list(), "\n"), "rumd-control") {
		if time.Now().After(deadline) {
			t.Fatal("the console watch did not see console.error: the no-errors check would be blind")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range w.list() {
		if !strings.Contains(e, "rumd-control") {
			t.Errorf("page error: %s", e)
		}
	}

	// The page refreshes itself: beacons sent now show up without a reload.
	for i := 0; i < 5; i++ {
		if code := r.post(t, testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://shop.example/late", 300, 1200)), "5.6.7.9", false); code != http.StatusNoContent {
			t.Fatalf("late beacon: %d", code)
		}
	}
	waitLoaded(ctx, t, 2)
	late, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#t-beacons tr[data-key="accepted"] td[data-metric=count]`)))
	if want := ms(float64(accepted + 5)); late != want {
		t.Errorf("after a refresh the page shows %q accepted beacons, want %s", late, want)
	}
	// The late page group has 5 views: its p75 cells say so.
	lateN, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#t-page tbody tr')].filter(tr => tr.dataset.key.includes('late')).map(tr => tr.querySelector('td[data-metric=lcp] small.n')?.textContent ?? '')`))
	if len(lateN) != 1 || lateN[0] != "n=5 few views" {
		t.Errorf("late page group's LCP count shows %q, want [\"n=5 few views\"]", lateN)
	}

	if *screenshotPath != "" {
		full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshotPath, full, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// On a phone's width the page needs no sideways scrolling.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitLoaded(ctx, t, 1)
	phone, _ := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Scroll, Inner float64
		Wide          []string
	}](`({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth,
		Wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391 && !e.closest('.tablewrap'))
			.map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 10)})`))
	if phone.Inner != 390 || phone.Scroll > phone.Inner {
		t.Errorf("at a phone's 390 px the page is %v px wide (viewport %v); too wide: %v", phone.Scroll, phone.Inner, phone.Wide)
	}
}

// checkChartPixels checks a chart's screenshot is drawn: the p75 line's blue and the three
// band colours each cover a visible share of it.
func checkChartPixels(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	near := func(r, g, b uint32, want [3]uint32) bool {
		d := func(x, y uint32) uint32 {
			if x > y {
				return x - y
			}
			return y - x
		}
		return d(r>>8, want[0])+d(g>>8, want[1])+d(b>>8, want[2]) < 30
	}
	colors := map[string][3]uint32{"line": {0x28, 0x57, 0xc5}, "good": {0xe3, 0xf4, 0xea}, "needs improvement": {0xfc, 0xf0, 0xd2}, "poor": {0xfa, 0xdc, 0xdc}}
	counts := map[string]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			for name, c := range colors {
				if near(r, g, b, c) {
					counts[name]++
				}
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	for name := range colors {
		min := total / 50
		if name == "line" {
			min = 10 // a few data points and their joins
		}
		if counts[name] < min {
			t.Errorf("chart screenshot (%v): %d pixels of %s, want at least %d; counts %v", bounds.Size(), counts[name], name, min, counts)
		}
	}
}

func TestHomePageAsksForTheToken(t *testing.T) {
	const token = "home-page-test-token-0123456789"
	r := startRumd(t, "--token", token)
	r.token = token
	r.seed(t)
	var w consoleWatch
	ctx := mustBrowser(t, &w)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token-input"))); err != nil {
		t.Fatal(err)
	}
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('token').hidden`))
	if err != nil {
		t.Fatal(err)
	}
	if hidden {
		t.Fatal("token form hidden while the API refuses the page")
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token-input"), token), chromedp.Click(chromedp.CSS("#token button"))); err != nil {
		t.Fatal(err)
	}
	waitLoaded(ctx, t, 1)
	// The token is kept: a new visit loads without asking.
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('rumd.token')`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatal(err)
	}
	if stored != token {
		t.Fatalf("localStorage holds %q", stored)
	}
	waitLoaded(ctx, t, 1)
	if hidden, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('token').hidden`)); err != nil || !hidden {
		t.Fatalf("token form shown after a reload with the stored token (err %v)", err)
	}
	accepted, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#t-beacons tr[data-key="accepted"] td[data-metric=count]`)))
	if accepted != "60" {
		t.Errorf("with the token the page shows %q accepted beacons, want 60", accepted)
	}
	// The API refused the page's first, tokenless requests with 401: those are the only
	// errors expected, and the console must show no others.
	for _, e := range w.list() {
		if !strings.Contains(e, "401") {
			t.Errorf("page error: %s", e)
		}
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
