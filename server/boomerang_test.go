package server

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"rumd/ingest/enrich"
	"rumd/internal/testutil"
	"rumd/server/ratelimit"
)

// boomerangForm is the page-load beacon the real boomerang sent from Chromium (captured by
// the browser test of ingest/boomerang), with its epoch timestamps moved to now so the clock
// rules judge it as fresh.
func boomerangForm(t testing.TB, file string) url.Values {
	t.Helper()
	c := testutil.MustBoomerangCapture(t, "../ingest/boomerang/testdata/captured/"+file)
	v := c.Form(t)
	shift := time.Now().UnixMilli() - c.RecvMs
	for k, xs := range v {
		if n, err := strconv.ParseInt(xs[0], 10, 64); err == nil && n > 1e12 {
			v.Set(k, strconv.FormatInt(n+shift, 10))
		}
	}
	return v
}

func (ts *testServer) boomerang(t *testing.T, method, path, query, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	target := ts.url + path
	if query != "" {
		target += "?" + query
	}
	req, _ := http.NewRequest(method, target, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	req.Header.Set("Origin", "https://shop.example")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestBoomerangEndpoint sends boomerang beacons the ways boomerang does (sendBeacon or XHR form
// POST, image GET, parameters split between URL and body) and the ways rumd must refuse.
func TestBoomerangEndpoint(t *testing.T) {
	ts := startServer(t, nil)
	load := boomerangForm(t, "post-0-page_load.json").Encode()
	xhr := boomerangForm(t, "xhr-1-xhr.json").Encode()
	u := "u=" + url.QueryEscape("https://shop.example/a")
	rest := strings.Replace(load, "u=", "x=", 1) // every other parameter
	for _, tc := range []struct {
		name, method, query, body string
		hdr                       map[string]string
		status                    int
		reason                    string
	}{
		{name: "sendBeacon POST", method: "POST", body: load + "&sb=1", status: 204},
		{name: "image GET", method: "GET", query: load, status: 204},
		{name: "split between URL and body", method: "POST", query: u, body: rest, status: 204},
		{name: "text/plain POST", method: "POST", body: load, hdr: map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, status: 204},
		{name: "XHR beacon ignored", method: "POST", body: xhr, status: 204},
		{name: "JSON body", method: "POST", body: `{"v":1}`, hdr: map[string]string{"Content-Type": "application/json"}, status: 400, reason: "malformed"},
		{name: "gzip body", method: "POST", body: load, hdr: map[string]string{"Content-Encoding": "gzip"}, status: 400, reason: "malformed"},
		{name: "no parameters", method: "GET", status: 400, reason: "malformed"},
		{name: "bot", method: "GET", query: load, hdr: map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}, status: 400, reason: "bot"},
		{name: "too large", method: "POST", body: load + "&pad=" + strings.Repeat("x", 70<<10), status: 413, reason: "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := ts.boomerang(t, tc.method, "/beacon", tc.query, tc.body, tc.hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on a %d", status)
			}
			if tc.reason != "" && !strings.Contains(body, `"reason":"`+tc.reason+`"`) {
				t.Errorf("body %s, want reason %s", body, tc.reason)
			}
		})
	}
	if got := testutil.MustMetric(t, ts.reg, "rumd_beacons_accepted_total"); got != 4 {
		t.Errorf("accepted %v, want the 4 page loads", got)
	}
	if got := testutil.MustMetric(t, ts.reg, "rumd_beacons_ignored_total", "format", "boomerang", "kind", "xhr"); got != 1 {
		t.Errorf("ignored xhr %v, want 1", got)
	}
	for _, r := range []string{"malformed", "bot", "too_large"} {
		if ts.counter(t, "rumd_beacons_rejected_total", "reason", r) == 0 {
			t.Errorf("rejected{reason=%s} not counted", r)
		}
	}

	req, _ := http.NewRequest(http.MethodOptions, ts.url+"/beacon", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight %d, methods %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"))
	}
}

// TestBoomerangEndpointShares checks that /beacon shares the ingest path's rate limit and
// CORS policy, and that its path is configurable.
func TestBoomerangEndpointShares(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) {
		o.Formats["boomerang"] = FormatOptions{Enabled: true, Path: "/collect", BodyLimit: 64 << 10}
		o.CORSOrigins = []string{"https://shop.example"}
		o.RateLimit = ratelimit.Options{PerAddr: 0.001, AddrBurst: 2, PerPrefix: 1000, PrefixBurst: 1000, MaxTracked: 100, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
	})
	load := boomerangForm(t, "post-0-page_load.json").Encode()
	if status, _, body := ts.boomerang(t, "GET", "/beacon", load, "", nil); status != 404 {
		t.Errorf("the default path still answers after it moved: %d %s", status, body)
	}
	if status, _, body := ts.boomerang(t, "GET", "/collect", load, "", map[string]string{"Origin": "https://evil.example"}); status != 403 {
		t.Errorf("forbidden origin: %d %s", status, body)
	}
	// The positive control spends the burst: one beacon here, one on /timings.
	if status, hdr, body := ts.boomerang(t, "GET", "/collect", load, "", nil); status != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("allowed origin: %d %s (ACAO %q)", status, body, hdr.Get("Access-Control-Allow-Origin"))
	}
	if status, _, _ := ts.boomerang(t, "POST", "/timings", "", "{}", map[string]string{"Content-Type": "application/json"}); status != 400 {
		t.Fatalf("/timings: %d", status)
	}
	status, hdr, body := ts.boomerang(t, "POST", "/collect", "", load, nil)
	if status != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"rate_limited"`) {
		t.Errorf("over the shared rate limit: %d %s (Retry-After %q)", status, body, hdr.Get("Retry-After"))
	}
}

func TestBoomerangPathOption(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{{"/beacon", true}, {"", true}, {"/b", true}, {"beacon", false}, {"/timings", false}, {"/api/v1/beacon", false}, {"/b?x", false}} {
		o := DefaultOptions()
		o.Formats["boomerang"] = FormatOptions{Enabled: true, Path: tc.path, BodyLimit: 64 << 10}
		if err := o.Validate(); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}
