package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/aggregator"
	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/ingest/enrich"
	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
	"rumd/promexp"
	"rumd/query"
	"rumd/storage"
)

type testServer struct {
	url string
	reg *prometheus.Registry
	agg *aggregator.Aggregator
	db  *storage.DB
	srv *Server
}

// startServer runs a server with real components on 127.0.0.1: Badger in a temp dir, the
// aggregator, a GeoIP file written for the test (1.2.3.0/24 is DE, 5.6.0.0/16 is US).
func startServer(t testing.TB, mod func(*Options, *enrich.Options)) *testServer {
	t.Helper()
	return startServerAgg(t, mod, nil)
}

func startServerAgg(t testing.TB, mod func(*Options, *enrich.Options), amod func(*aggregator.Options)) *testServer {
	t.Helper()
	return startServerWith(t, mod, amod, nil)
}

// startServerWith is startServerAgg with the query engine's options changed by qmod too.
func startServerWith(t testing.TB, mod func(*Options, *enrich.Options), amod func(*aggregator.Options), qmod func(*query.Options)) *testServer {
	t.Helper()
	return startServerLogged(t, nil, mod, amod, qmod)
}

// startServerLogged is startServerWith with the server logging to log.
func startServerLogged(t testing.TB, log *slog.Logger, mod func(*Options, *enrich.Options), amod func(*aggregator.Options), qmod func(*query.Options)) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	db, err := storage.Open(t.TempDir(), nil, reg, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ao := aggregator.DefaultOptions()
	if amod != nil {
		amod(&ao)
	}
	agg, err := aggregator.Open(nil, reg, db, ao)
	if err != nil {
		t.Fatal(err)
	}
	eo := enrich.DefaultOptions()
	eo.GeoIPPath = testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country,
		geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"}, geoipfile.Network{CIDR: "5.6.0.0/16", Country: "US"})
	so := DefaultOptions()
	if mod != nil {
		mod(&so, &eo)
	}
	enr, err := enrich.New(nil, reg, eo)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := ingest.New(nil, reg, enr, agg, ingest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	qo := query.DefaultOptions()
	qo.Views = ao.Views
	if qmod != nil {
		qmod(&qo)
	}
	eng, err := query.New(nil, reg, db, agg, qo)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Pipeline: pipe, Engine: eng, Gatherer: reg, Now: ao.Now}
	if len(ao.Totals.Views) > 0 {
		deps.RUMGatherer = promexp.NewRegistry(promexp.NewCollector(agg, ao.Views))
	}
	srv, err := New(log, reg, deps, so)
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
	return &testServer{url: "http://" + ln.Addr().String(), reg: reg, agg: agg, db: db, srv: srv}
}

func (ts *testServer) post(t *testing.T, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.url+"/timings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return do(t, req)
}

// do sends req and reads the whole answer. A POST whose body the server cut off with its
// answer and a reset (a 413 racing the upload) gives status 0 and the error as the body.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := testutil.HTTP.Do(req)
	if err != nil && req.Method == "POST" && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return 0, nil, []byte(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (ts *testServer) get(t *testing.T, path string, into any) int {
	t.Helper()
	resp, err := http.Get(ts.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// waitApplied waits until the aggregator has added n records to its sketches, and fails
// the test if it has not within 30 s.
func (ts *testServer) waitApplied(t testing.TB, n int64) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		got := ts.agg.Applied()
		return got >= n, fmt.Sprintf("aggregator applied %d of %d records", got, n)
	})
}

// counter reads one sample of a counter vector from the registry; 0 when absent.
func (ts *testServer) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	var labels []string
	if label != "" {
		labels = []string{label, value}
	}
	v, _ := testutil.MetricValue(t, ts.reg, name, labels...)
	return v
}

func nt(b map[string]any) map[string]any { return b["nt"].(map[string]any) }

// TestEachRejectionReason posts one beacon per reason and checks its status, the reason in
// the JSON body, and rumd_beacons_rejected_total{reason}.
func TestEachRejectionReason(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	good := func() map[string]any {
		return testutil.Beacon(now, "https://example.com/questions/42?tab=votes", 300, 1800)
	}
	cases := []struct {
		name   string
		body   func() []byte
		hdr    map[string]string
		status int
		reason string
	}{
		{"accepted", func() []byte { return testutil.MustJSON(t, good()) }, nil, 204, ""},
		{"malformed: not JSON", func() []byte { return []byte("{nope") }, nil, 400, "malformed"},
		{"malformed: unknown version", func() []byte { b := good(); b["v"] = 9; return testutil.MustJSON(t, b) }, nil, 400, "malformed"},
		{"malformed: wrong content type", func() []byte { return testutil.MustJSON(t, good()) }, map[string]string{"Content-Type": "image/png"}, 400, "malformed"},
		{"too_large", func() []byte {
			b := good()
			b["url"] = "https://example.com/" + strings.Repeat("a", 70<<10)
			return testutil.MustJSON(t, b)
			// With Expect: 100-continue the client waits for the server's verdict on the
			// declared length before sending the body; without it, rumd's 413 and the
			// connection's close can race the client's write and reach it as a reset.
		}, map[string]string{"Expect": "100-continue"}, 413, "too_large"},
		{"non_monotonic: responseStart before requestStart", func() []byte { b := good(); nt(b)["requestStart"] = 310.0; return testutil.MustJSON(t, b) }, nil, 400, "non_monotonic"},
		{"negative: performance.now() below zero", func() []byte {
			b := good()
			b["now"], b["origin"] = -1.0, b["sent"].(float64)+1
			return testutil.MustJSON(t, b)
		}, nil, 400, "negative"},
		{"accepted: Firefox fresh tab, fetchStart and DNS marks below zero (dns dropped)", func() []byte {
			b := good()
			nt(b)["fetchStart"], nt(b)["domainLookupStart"], nt(b)["domainLookupEnd"] = -6.0, -5.5, -5.5
			return testutil.MustJSON(t, b)
		}, nil, 204, "dns/negative"},
		{"future_mark: TTFB beyond performance.now()", func() []byte {
			b := good()
			nt(b)["loadEventEnd"] = b["now"].(float64) + 500
			return testutil.MustJSON(t, b)
		}, nil, 400, "future_mark"},
		{"clock_jump: Date and monotonic clocks 5 s apart", func() []byte { b := good(); b["sent"] = b["sent"].(float64) + 5000; return testutil.MustJSON(t, b) }, nil, 400, "clock_jump"},
		{"clock_skew: client clock 25 h off", func() []byte {
			b := testutil.Beacon(now.Add(-25*time.Hour), "https://example.com/", 300, 1800)
			return testutil.MustJSON(t, b)
		}, nil, 400, "clock_skew"},
		{"out_of_range: a number too large for a float", func() []byte {
			b := good()
			b["vitals"].(map[string]any)["lcp"] = json.Number("1e400")
			return testutil.MustJSON(t, b)
		}, nil, 400, "out_of_range"},
		{"accepted: LCP of 10 minutes (lcp dropped)", func() []byte {
			b := good()
			b["vitals"].(map[string]any)["lcp"] = 600000.0
			b["now"] = 700000.0
			b["origin"] = b["sent"].(float64) - 700000
			return testutil.MustJSON(t, b)
		}, nil, 204, "lcp/out_of_range"},
		{"accepted: WebKit responseStart 0 on a sub-ms response (ttfb dropped)", func() []byte {
			b := good()
			nt(b)["responseStart"] = 0.0
			return testutil.MustJSON(t, b)
		}, nil, 204, "ttfb/concealed"},
		{"concealed: no timing left at all", func() []byte {
			b := good()
			delete(b, "vitals")
			for k := range nt(b) {
				if k != "nextHopProtocol" {
					nt(b)[k] = 0.0
				}
			}
			nt(b)["responseEnd"] = 120.0
			return testutil.MustJSON(t, b)
		}, nil, 400, "concealed"},
		{"bot: navigator.webdriver", func() []byte { b := good(); b["webdriver"] = true; return testutil.MustJSON(t, b) }, nil, 400, "bot"},
		{"bot: Googlebot", func() []byte { return testutil.MustJSON(t, good()) }, map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, 400, "bot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.counter(t, "rumd_beacons_rejected_total", "reason", tc.reason)
			acceptedBefore := ts.counter(t, "rumd_beacons_accepted_total", "", "")
			var droppedBefore float64
			if metric, reason, ok := strings.Cut(tc.reason, "/"); ok {
				droppedBefore, _ = testutil.MetricValue(t, ts.reg, "rumd_metrics_dropped_total", "metric", metric, "reason", reason)
			}
			status, hdr, body := ts.post(t, tc.body(), tc.hdr)
			for try := 0; status == 0 && try < 3; try++ {
				// A 413 answered while the client still writes the body can reach it as a
				// reset (see too_large above); the answer is what is tested, so ask again.
				before = ts.counter(t, "rumd_beacons_rejected_total", "reason", tc.reason)
				status, hdr, body = ts.post(t, tc.body(), tc.hdr)
			}
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("no CORS header on a %d answer", status)
			}
			if tc.status == 204 {
				if got := ts.counter(t, "rumd_beacons_accepted_total", "", ""); got != acceptedBefore+1 {
					t.Fatalf("accepted counter %v → %v", acceptedBefore, got)
				}
				if metric, reason, ok := strings.Cut(tc.reason, "/"); ok {
					got, _ := testutil.MetricValue(t, ts.reg, "rumd_metrics_dropped_total", "metric", metric, "reason", reason)
					if got != droppedBefore+1 {
						t.Fatalf("rumd_metrics_dropped_total{metric=%q,reason=%q} %v → %v", metric, reason, droppedBefore, got)
					}
				}
				return
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil || e.Reason != tc.reason || e.Error == "" {
				t.Fatalf("body %s, want reason %s with an error text", body, tc.reason)
			}
			if got := ts.counter(t, "rumd_beacons_rejected_total", "reason", tc.reason); got != before+1 {
				t.Fatalf("rumd_beacons_rejected_total{reason=%q} %v → %v", tc.reason, before, got)
			}
		})
	}
}

func TestStatusOfEveryReason(t *testing.T) {
	want := map[beacon.Reason]int{
		beacon.OK: 204, beacon.Malformed: 400, beacon.TooLarge: 413, beacon.NonMonotonic: 400,
		beacon.Negative: 400, beacon.FutureMark: 400, beacon.ClockJump: 400, beacon.ClockSkew: 400,
		beacon.OutOfRange: 400, beacon.Concealed: 400, beacon.Bot: 400, beacon.RateLimited: 429,
		beacon.Overloaded: 503, beacon.StorageFull: 503,
	}
	if len(want) != len(beacon.Reasons())+1 {
		t.Fatalf("%d reasons, the table has %d: give the new reason a status here", len(beacon.Reasons())+1, len(want))
	}
	for r, st := range want {
		if got := BeaconStatus(r); got != st {
			t.Errorf("%s: status %d, want %d", r, got, st)
		}
	}
}

// chunkedReader hides its length so the client sends the body chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestBodyLimitWhileReading(t *testing.T) {
	ts := startServer(t, nil)
	big := bytes.Repeat([]byte("x"), 100<<10)
	req, _ := http.NewRequest("POST", ts.url+"/timings", chunkedReader{bytes.NewReader(big)})
	req.Header.Set("Content-Type", "text/plain")
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"too_large"`) || req.ContentLength > 0 {
		t.Fatalf("chunked oversize body: %d %s (content length %d)", resp.StatusCode, b, req.ContentLength)
	}
}

func TestBatchAnswersPerIndex(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	good := testutil.Beacon(now, "https://example.com/a", 200, 1000)
	bad := testutil.Beacon(now, "https://example.com/b", 200, 1000)
	nt(bad)["requestStart"] = nt(bad)["responseStart"].(float64) + 1
	status, _, body := ts.post(t, testutil.MustJSON(t, []any{good, bad, good}), nil)
	var ans batchAnswer
	if err := json.Unmarshal(body, &ans); err != nil || status != 200 || ans.Accepted != 2 || len(ans.Rejected) != 1 ||
		ans.Rejected[0].Index != 1 || ans.Rejected[0].Reason != "non_monotonic" {
		t.Fatalf("mixed batch: %d %s", status, body)
	}
	status, _, body = ts.post(t, testutil.MustJSON(t, []any{good, good}), nil)
	if status != 204 {
		t.Fatalf("good batch: %d %s", status, body)
	}
}

func TestPreflightAndContentTypes(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) { o.CORSOrigins = []string{"https://shop.example"} })
	req, _ := http.NewRequest("OPTIONS", ts.url+"/timings", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900))
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/json", "application/json; charset=utf-8"} {
		if status, _, b := ts.post(t, body, map[string]string{"Content-Type": ct, "Origin": "https://shop.example"}); status != 204 {
			t.Fatalf("%s: %d %s", ct, status, b)
		}
	}
	if status, _, _ := ts.post(t, body, map[string]string{"Origin": "https://evil.example"}); status != 403 {
		t.Fatalf("foreign origin: %d", status)
	}
}

// TestCountryOnlyFromTrustedProxies: X-Forwarded-For moves the country only when the peer
// is a trusted proxy; from an untrusted peer the spoofed header changes nothing.
func TestCountryOnlyFromTrustedProxies(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			ts := startServer(t, func(_ *Options, e *enrich.Options) {
				if !trusted {
					e.TrustedProxies = []string{"10.0.0.0/8"}
				}
				e.CountryHeader = "CF-IPCountry"
			})
			body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900))
			// Two header lines: the client's own (spoofable) claim first, then what the
			// trusted proxy appended; only the proxy's counts.
			req, _ := http.NewRequest("POST", ts.url+"/timings", bytes.NewReader(body))
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
			req.Header.Add("X-Forwarded-For", "5.6.7.8")
			req.Header.Add("X-Forwarded-For", "1.2.3.4")
			resp, err := testutil.HTTP.Do(req)
			if err != nil || resp.StatusCode != 204 {
				t.Fatalf("post with two XFF lines: %v %v", err, resp)
			}
			resp.Body.Close()
			ts.post(t, body, map[string]string{"CF-IPCountry": "FR"})
			var vals struct{ Values []string }
			ts.waitApplied(t, 2)
			ts.get(t, "/api/v1/label/country/values?from=-1h", &vals)
			want := "[DE FR]"
			if !trusted {
				want = "[XX]"
			}
			if fmt.Sprint(vals.Values) != want {
				t.Fatalf("countries %v, want %s", vals.Values, want)
			}
		})
	}
}

func TestQueryAPIShapesAndErrors(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	var n int64
	for i := 0; i < 200; i++ {
		page := []string{"https://example.com/questions/1", "https://example.com/users/7"}[i%2]
		ip := []string{"1.2.3.9", "5.6.7.8"}[i/100]
		if status, _, b := ts.post(t, testutil.MustJSON(t, testutil.Beacon(now, page, float64(100+i), 2000)), map[string]string{"X-Forwarded-For": ip}); status != 204 {
			t.Fatalf("post: %d %s", status, b)
		}
		n++
	}
	ts.waitApplied(t, n)
	var series struct {
		Metric, Unit string
		Step         int64
		View         []string
		Series       []struct {
			Labels map[string]string
			Points []struct {
				T     int64
				Count float64
				Q     map[string]float64
			}
		}
	}
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-1h&to=now&step=60&q=0.5,0.95&country=US&by=page", &series); code != 200 {
		t.Fatalf("series: %d", code)
	}
	if series.Metric != "ttfb" || series.Unit != "ms" || series.Step != 60 || fmt.Sprint(series.View) != "[page country]" || len(series.Series) != 2 {
		t.Fatalf("series answer %+v", series)
	}
	var total float64
	for _, s := range series.Series {
		for _, p := range s.Points {
			total += p.Count
			if _, ok := p.Q["0.95"]; !ok || p.T%60 != 0 {
				t.Fatalf("point %+v", p)
			}
		}
	}
	if total != 100 {
		t.Fatalf("US count %v, want 100", total)
	}
	var sum struct {
		View []string
		Rows []struct {
			Labels map[string]string
			Count  float64
			Q      map[string]float64
		}
	}
	if code := ts.get(t, "/api/v1/summary?metric=lcp&from=-24h&q=0.75&by=country", &sum); code != 200 || len(sum.Rows) != 2 ||
		sum.Rows[0].Labels["country"] != "DE" || sum.Rows[0].Count != 100 || sum.Rows[0].Q["0.75"] < 1978 || sum.Rows[0].Q["0.75"] > 2022 {
		t.Fatalf("summary %d %+v", code, sum)
	}
	for _, tc := range []struct{ path, reason string }{
		{"/api/v1/series?metric=nope", "bad_metric"},
		{"/api/v1/series?metric=ttfb&from=soon", "bad_time"},
		{"/api/v1/series?metric=ttfb&from=now&to=-1h", "bad_time"},
		{"/api/v1/series?metric=ttfb&step=0", "bad_step"},
		{"/api/v1/series?metric=ttfb&q=1.5", "bad_quantile"},
		{"/api/v1/series?metric=ttfb&by=planet", "bad_dimension"},
		{"/api/v1/series?metric=ttfb&by=page,variant", "no_view"},
		{"/api/v1/series?metric=ttfb&step=1d12", "bad_step"},
		{"/api/v1/series?metric=ttfb&step=2y", "bad_step"},
		{"/api/v1/label/planet/values", "bad_dimension"},
	} {
		var e apiError
		if code := ts.get(t, tc.path, &e); code != 400 || e.Reason != tc.reason {
			t.Errorf("%s: %d %+v, want 400 %s", tc.path, code, e, tc.reason)
		}
	}
	var labels struct{ Labels []string }
	ts.get(t, "/api/v1/labels", &labels)
	if fmt.Sprint(labels.Labels) != "[page country device nav variant]" {
		t.Fatalf("labels %v", labels.Labels)
	}
}

func TestRoundKeepsSignificantDigits(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.0312345678, 0.03123457}, {812.34567891, 812.3457}, {0, 0}, {123456789, 123456800}, {-42.25, -42.25},
	} {
		if got := round(tc.in); got != tc.want {
			t.Errorf("round(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestQueryAnswersAreCompressed(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 20; i++ {
		ts.post(t, testutil.MustJSON(t, testutil.Beacon(time.Now(), fmt.Sprintf("https://example.com/p%d/x", i), 100, 900)), nil)
	}
	ts.waitApplied(t, 20)
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/summary?metric=ttfb&by=page&from=-1h", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	zr, err := gzip.NewReader(resp.Body)
	if resp.Header.Get("Content-Encoding") != "gzip" || err != nil {
		t.Fatalf("Content-Encoding %q, %v", resp.Header.Get("Content-Encoding"), err)
	}
	var sum struct{ Rows []any }
	if err := json.NewDecoder(zr).Decode(&sum); err != nil || len(sum.Rows) == 0 {
		t.Fatalf("decoded %v rows, %v", len(sum.Rows), err)
	}
}
