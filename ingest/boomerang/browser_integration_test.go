//go:build integration

package boomerang_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/aggregator"
	"rumd/ingest"
	"rumd/ingest/boomerang"
	"rumd/ingest/enrich"
	"rumd/internal/testutil"
	"rumd/query"
	"rumd/server"
	"rumd/storage"
)

// capture rewrites testdata/captured from this run's beacons.
var capture = flag.Bool("capture", false, "write the beacons boomerang sent to testdata/captured")

// boomerangDir is the pinned boomerang that `make deps` installs with npm ci.
const boomerangDir = "testdata/browser/node_modules/boomerangjs"

// rig is a rumd with real components on 127.0.0.1, and a recording proxy in front of it
// that boomerang sends its beacons to.
type rig struct {
	rumd  string // rumd's own address, for queries
	front string // the proxy, boomerang's beacon_url base
	reg   *prometheus.Registry

	mu  sync.Mutex
	got []capturedBeacon
}

func mustRig(t *testing.T) *rig {
	t.Helper()
	reg := prometheus.NewRegistry()
	db, err := storage.Open(t.TempDir(), nil, reg, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ao := aggregator.DefaultOptions()
	agg, err := aggregator.Open(nil, reg, db, ao)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := enrich.New(nil, reg, enrich.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := ingest.New(nil, reg, enr, agg, ingest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	qo := query.DefaultOptions()
	qo.Views = ao.Views
	eng, err := query.New(nil, nil, db, agg, qo)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(nil, reg, server.Deps{Pipeline: pipe, Engine: eng, Gatherer: reg}, server.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		agg.Close(context.Background())
		enr.Close()
		db.Close(context.Background())
	})
	r := &rig{rumd: "http://" + ln.Addr().String(), reg: reg}
	target, _ := url.Parse(r.rumd)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/beacon" || req.Method == http.MethodOptions {
			proxy.ServeHTTP(w, req)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		b := capturedBeacon{Method: req.Method, Query: req.URL.RawQuery, Body: string(body),
			ContentType: req.Header.Get("Content-Type"), RecvMs: time.Now().UnixMilli()}
		// Recorded once rumd has answered, so a test that saw it can read rumd's counters.
		proxy.ServeHTTP(w, req)
		r.mu.Lock()
		r.got = append(r.got, b)
		r.mu.Unlock()
	}))
	t.Cleanup(front.Close)
	r.front = front.URL
	return r
}

// waitBeacons waits until n beacons in all were recorded and returns them; it fails the test
// if they do not come within 20 s.
func (r *rig) waitBeacons(t *testing.T, n int) []capturedBeacon {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]capturedBeacon(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %d beacons, got %d: %+v", n, len(got), got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustFixture serves the fixture page and the pinned boomerang on another loopback port.
func mustFixture(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(boomerangDir, "boomerang.js")); err != nil {
		t.Fatalf("boomerang is not installed (make deps runs npm ci in ingest/boomerang/testdata/browser): %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, "testdata/browser/fixture.html")
	})
	mux.Handle("/boomerang/", http.StripPrefix("/boomerang/", http.FileServer(http.Dir(boomerangDir))))
	mux.HandleFunc("/slow.png", func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(400 * time.Millisecond)
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG)
	})
	mux.HandleFunc("/data.json", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// onePixelPNG is a 1×1 grey PNG.
var onePixelPNG = func() []byte {
	var buf bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	img.Pix[0] = 0x80
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// TestBoomerangInChromium loads the real boomerang in Chromium and checks that rumd counts one
// page view per load, with the values boomerang sent: a sendBeacon POST page load followed by
// a click and the unload beacon (INP counted once), a forced-GET page load, a page load with
// an XHR beacon (ignored), and a Level 1 page load.
func TestBoomerangInChromium(t *testing.T) {
	r := mustRig(t)
	site := mustFixture(t)
	ctx := testutil.MustBrowser(t, true)

	type load struct {
		variant, extra string
		click          bool
		beacons        int // sent by the load, the unload beacon not counted
	}
	loads := []load{
		{variant: "post", click: true, beacons: 1},
		{variant: "get", extra: "&get=1", beacons: 1},
		{variant: "xhr", extra: "&xhr=1", beacons: 2},
		{variant: "level1", extra: "&level1=1", beacons: 1},
	}
	total := 0
	byVariant := map[string][]capturedBeacon{}
	for _, l := range loads {
		page := site + "/page?rumd=" + url.QueryEscape(r.front) + "&variant=" + l.variant + l.extra
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		total += l.beacons
		r.waitBeacons(t, total)
		if l.click {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#busy"))); err != nil {
				t.Fatal(err)
			}
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#busy")))
			if err != nil {
				t.Fatal(err)
			}
			if text != "done" {
				t.Fatalf("the click handler did not run: button says %q", text)
			}
			// The event's timing entry reaches boomerang after the next paint.
			waitJS(t, ctx, `BOOMR.plugins.EventTiming.metrics.interactionToNextPaint() > 0`)
		}
		// Leaving the page sends the unload beacon.
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatal(err)
		}
		total++
		got := r.waitBeacons(t, total)
		byVariant[l.variant] = got[total-l.beacons-1 : total]
	}

	kinds := map[string]int{}
	for v, bs := range byVariant {
		for i, b := range bs {
			var bb boomerang.Beacon
			if err := boomerang.Decode([]byte(b.Query), []byte(b.Body), nil, &bb); err != nil {
				t.Fatalf("%s beacon %d: %v\n%+v", v, i, err, b)
			}
			kinds[bb.Kind.String()]++
			if *capture {
				name := fmt.Sprintf("%s-%d-%s.json", v, i, bb.Kind)
				raw, _ := json.MarshalIndent(b, "", "  ")
				if err := os.WriteFile(filepath.Join("testdata", "captured", name), append(raw, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := map[string]int{"page_load": 4, "unload": 1, "unload_without_inp": 3, "xhr": 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("beacon kinds %v, want %v", kinds, want)
	}
	if b := byVariant["post"][0]; b.Method != http.MethodPost || !strings.Contains(b.Body, "sb=1") {
		t.Errorf("the page load was not a sendBeacon POST: %s %q", b.Method, b.Body)
	}
	if b := byVariant["get"][0]; b.Method != http.MethodGet || !strings.Contains(b.Query, "nt_nav_st=") {
		t.Errorf("the forced-GET page load was not a GET with its parameters in the URL: %s %q", b.Method, b.Query)
	}

	// rumd: one page view per load, INP once, the ignored and unload beacons counted apart.
	for name, want := range map[string]float64{
		"rumd_beacons_accepted_total": 5,
	} {
		if got := testutil.MustMetric(t, r.reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := testutil.MustMetric(t, r.reg, "rumd_beacons_ignored_total", "format", "boomerang", "kind", "xhr"); got != 1 {
		t.Errorf("ignored xhr beacons = %v, want 1", got)
	}
	if got := testutil.MustMetric(t, r.reg, "rumd_beacons_ignored_total", "format", "boomerang", "kind", "unload_without_inp"); got != 3 {
		t.Errorf("ignored unload beacons without INP = %v, want 3", got)
	}
	for v, bs := range byVariant {
		sent := params(t, bs[0])
		nav := sent.num(t, "nt_nav_st")
		wantVals := map[string]float64{
			"ttfb": sent.num(t, "nt_res_st") - nav,
			"load": sent.num(t, "nt_load_end") - nav,
			"fcp":  sent.num(t, "pt.fcp"),
			"lcp":  sent.num(t, "pt.lcp"),
			"cls":  sent.num(t, "c.cls"),
		}
		if v == "post" {
			wantVals["inp"] = params(t, bs[1]).num(t, "et.inp")
		}
		for metric, want := range wantVals {
			count, p50 := summary(t, r.rumd, metric, v)
			if count != 1 || math.Abs(p50-want) > 0.02*want+0.5 {
				t.Errorf("%s %s: rumd has %v values, p50 %v; boomerang sent %v once", v, metric, count, p50, want)
			}
		}
		if v != "post" {
			if count, _ := summary(t, r.rumd, "inp", v); count != 0 {
				t.Errorf("%s: %v INP values without any interaction", v, count)
			}
		}
	}
}

// waitJS waits until expr is true in the page, failing the test after 10 s.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", expr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type form url.Values

// params reads a recorded beacon's parameters with net/url, independently of the decoder.
func params(t *testing.T, b capturedBeacon) form { return form(b.Form(t)) }

func (f form) num(t *testing.T, name string) float64 {
	t.Helper()
	x, err := strconv.ParseFloat(url.Values(f).Get(name), 64)
	if err != nil {
		t.Fatalf("parameter %s: %v", name, err)
	}
	return x
}

// summary is rumd's count and median of metric for one variant over the last hour.
func summary(t *testing.T, rumd, metric, variant string) (float64, float64) {
	t.Helper()
	resp, err := testutil.HTTP.Get(rumd + "/api/v1/summary?metric=" + metric + "&q=0.5&variant=" + variant + "&by=variant")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Rows []struct {
			Count float64            `json:"count"`
			Q     map[string]float64 `json:"q"`
		} `json:"rows"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("summary %s %s: %d %s", metric, variant, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("summary %s: %v", raw, err)
	}
	if len(ans.Rows) == 0 {
		return 0, 0
	}
	return ans.Rows[0].Count, ans.Rows[0].Q["0.5"]
}
