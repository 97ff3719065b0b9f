package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	"rumd/internal/testutil"
	"rumd/server/ratelimit"
)

func TestRateLimitAnswers429WithCORSAndRetryAfter(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) {
		o.RateLimit = ratelimit.Options{PerAddr: 1, AddrBurst: 3, PerPrefix: 1000, PrefixBurst: 1000, MaxTracked: 100, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
	})
	body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900))
	before := ts.counter(t, "rumd_beacons_rejected_total", "reason", "rate_limited")
	codes := map[int]int{}
	var hdr http.Header
	var last []byte
	for i := 0; i < 6; i++ {
		code, h, b := ts.post(t, body, map[string]string{"X-Forwarded-For": "192.0.2.10"})
		codes[code]++
		if code == 429 {
			hdr, last = h, b
		}
	}
	if codes[204] != 3 || codes[429] != 3 {
		t.Fatalf("statuses %v, want 3 accepted then 3 limited", codes)
	}
	if hdr.Get("Retry-After") == "" || hdr.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(string(last), `"rate_limited"`) {
		t.Fatalf("429 answer lacks Retry-After or CORS: %v %s", hdr, last)
	}
	if got := ts.counter(t, "rumd_beacons_rejected_total", "reason", "rate_limited"); got != before+3 {
		t.Fatalf("rate_limited counter %v → %v", before, got)
	}
	// Another client is not limited, and preflights never are.
	if code, _, _ := ts.post(t, body, map[string]string{"X-Forwarded-For": "198.51.100.3"}); code != 204 {
		t.Fatalf("other client: %d", code)
	}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("OPTIONS", ts.url+"/timings", nil)
		req.Header.Set("X-Forwarded-For", "192.0.2.10")
		req.Header.Set("Origin", "https://a.example")
		resp, err := testutil.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("preflight %d limited: %d", i, resp.StatusCode)
		}
	}
}

// TestBackpressureSheds floods a deliberately slowed aggregator: ingest answers 503 with
// Retry-After, counts it, and goroutines and heap stay bounded.
func TestBackpressureSheds(t *testing.T) {
	ts := startServerAgg(t, func(o *Options, _ *enrich.Options) {
		o.RateLimit.PerAddr, o.RateLimit.PerPrefix = 0, 0
	}, func(a *aggregator.Options) {
		a.QueueSize, a.Shards, a.SlowDown = 64, 1, 2*time.Millisecond
	})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore, goBefore := ms.HeapInuse, runtime.NumGoroutine()
	body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900))
	var shed, accepted, other atomic.Int64
	var firstOther atomic.Value
	var maxGoroutines atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000 && time.Now().Before(deadline); n++ {
				req, _ := http.NewRequest("POST", ts.url+"/timings", bytes.NewReader(body))
				req.Header.Set("Content-Type", "text/plain")
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					firstOther.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
					shed.Add(1)
				case resp.StatusCode == 204:
					accepted.Add(1)
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, fmt.Sprint(resp.StatusCode))
				}
				if g := int64(runtime.NumGoroutine()); g > maxGoroutines.Load() {
					maxGoroutines.Store(g)
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("accepted %d, shed %d, other %d; goroutines %d → max %d; heap %d → %d KiB",
		accepted.Load(), shed.Load(), other.Load(), goBefore, maxGoroutines.Load(), heapBefore/1024, ms.HeapInuse/1024)
	if shed.Load() == 0 || other.Load() != 0 {
		t.Fatalf("no load shed (accepted %d, shed %d, other %d: %v)", accepted.Load(), shed.Load(), other.Load(), firstOther.Load())
	}
	if got := ts.counter(t, "rumd_beacons_rejected_total", "reason", "overloaded"); got != float64(shed.Load()) {
		t.Fatalf("overloaded counter %v, shed answers %d", got, shed.Load())
	}
	// 32 clients on at most 32 connections: each costs its own goroutine, the transport's two
	// and the server's one or two, so about 6 each whatever the load; a goroutine per waiting
	// beacon would be tens of thousands here.
	if maxGoroutines.Load() > int64(goBefore)+32*6+50 {
		t.Fatalf("goroutines grew to %d from %d", maxGoroutines.Load(), goBefore)
	}
	if ms.HeapInuse > heapBefore+64<<20 {
		t.Fatalf("heap grew from %d to %d KiB", heapBefore/1024, ms.HeapInuse/1024)
	}
}

func TestTokenProtectsAllButPublicPaths(t *testing.T) {
	const token, scrape = "s3cret-token-0123456789", "scrape-token-0123456789"
	for _, tc := range []struct {
		metricsToken bool
		scrapeToken  string
	}{{false, ""}, {true, ""}, {false, scrape}, {true, scrape}} {
		t.Run(fmt.Sprintf("metrics_token=%v,scrape_token=%v", tc.metricsToken, tc.scrapeToken != ""), func(t *testing.T) {
			ts := startServerAgg(t, func(o *Options, _ *enrich.Options) {
				o.Token, o.MetricsToken, o.ScrapeToken = token, tc.metricsToken, tc.scrapeToken
			}, func(ao *aggregator.Options) { ao.Totals.Views = []series.Mask{series.MaskOf()} })
			get := func(path, auth string) int {
				req, _ := http.NewRequest("GET", ts.url+path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := testutil.HTTP.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			// Without a scrape token configured, "Bearer scrape-token-…" is just a wrong token.
			scrapeOK := map[bool]int{false: 401, true: 200}[tc.scrapeToken != ""]
			for _, rc := range []struct {
				path, auth string
				want       int
			}{
				{"/api/v1/series?metric=ttfb", "", 401},
				{"/api/v1/series?metric=ttfb", "Bearer wrong-token-0123456789", 401},
				{"/api/v1/series?metric=ttfb", "Bearer " + token, 200},
				{"/api/v1/series?metric=ttfb", "Bearer " + scrape, 401},
				{"/api/v1/labels", "", 401},
				{"/api/v1/labels", "Bearer " + scrape, 401},
				{"/healthz", "", 200},
				{"/readyz", "", 200},
				{"/metrics", "", map[bool]int{false: 200, true: 401}[tc.metricsToken]},
				{"/metrics", "Bearer " + token, 200},
				{"/metrics", "Bearer " + scrape, map[bool]int{false: 200, true: scrapeOK}[tc.metricsToken]},
				// Every page, variant and country of the site: never public when a token is set.
				{"/metrics/rum", "", 401},
				{"/metrics/rum", "Bearer wrong-token-0123456789", 401},
				{"/metrics/rum", "Bearer " + token, 200},
				{"/metrics/rum", "Bearer " + scrape, scrapeOK},
			} {
				if got := get(rc.path, rc.auth); got != rc.want {
					t.Errorf("GET %s (auth %q): %d, want %d", rc.path, rc.auth, got, rc.want)
				}
			}
			if code, _, _ := ts.post(t, testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900)), nil); code != 204 {
				t.Fatalf("ingest must stay public: %d", code)
			}
			if ts.counter(t, "rumd_requests_refused_total", "reason", "unauthorized") < 3 {
				t.Fatal("unauthorized requests not counted")
			}
		})
	}
}

func TestScrapeTokenOptions(t *testing.T) {
	for _, tc := range []struct {
		name, token, scrape string
		ok                  bool
	}{
		{"none", "", "", true},
		{"both", "s3cret-token-0123456789", "scrape-token-0123456789", true},
		{"scrape without token", "", "scrape-token-0123456789", false},
		{"same as token", "s3cret-token-0123456789", "s3cret-token-0123456789", false},
		{"short", "s3cret-token-0123456789", "short", false},
	} {
		o := DefaultOptions()
		o.Token, o.ScrapeToken = tc.token, tc.scrape
		if err := o.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestOddBodiesAreMalformedNotCrashes(t *testing.T) {
	ts := startServer(t, nil)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 50<<20)) // 50 MiB of spaces, ~50 KiB compressed
	zw.Close()
	good := testutil.Beacon(time.Now(), "/", 100, 900)
	goodJSON := testutil.MustJSON(t, good)
	for _, tc := range []struct {
		name string
		body []byte
		hdr  map[string]string
	}{
		{"gzip bomb", bomb.Bytes(), map[string]string{"Content-Encoding": "gzip"}},
		{"gzip of a good beacon", gzipped(goodJSON), map[string]string{"Content-Encoding": "gzip"}},
		{"invalid UTF-8 in url", bytes.Replace(goodJSON, []byte(`"url":"/"`), []byte("\"url\":\"/\xff\xfe\""), 1), nil},
		{"deeply nested", []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)), nil},
		{"nested object in a field", bytes.Replace(goodJSON, []byte(`"nav":"navigate"`), []byte(`"nav":`+strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)), 1), nil},
		{"empty body", nil, nil},
		{"null", []byte("null"), nil},
		{"number", []byte("12"), nil},
		{"NUL bytes", []byte("\x00\x00\x00"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := ts.post(t, tc.body, tc.hdr)
			if code != 400 || !strings.Contains(string(b), `"malformed"`) {
				t.Fatalf("%d %s", code, b)
			}
		})
	}
	// Still serving.
	if code, _, b := ts.post(t, goodJSON, nil); code != 204 {
		t.Fatalf("after odd bodies: %d %s", code, b)
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestSlowClientIsCutOff: a client that sends headers and then trickles its body is
// disconnected once the read timeout passes (slowloris).
func TestSlowClientIsCutOff(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) { o.ReadTimeout = 500 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /timings HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{")
	start := time.Now()
	closed := make(chan error, 1)
	go func() {
		r := bufio.NewReader(conn)
		_, err := r.ReadString('\n')
		for err == nil {
			_, err = r.ReadString('\n')
		}
		closed <- err
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("connection closed only after %v", el)
			}
			return
		case <-tick.C:
			conn.Write([]byte(" ")) // one byte at a time, never finishing
			if time.Since(start) > 10*time.Second {
				t.Fatal("slow client was never cut off")
			}
		}
	}
}

// TestCardinalitySpray posts 100,000 beacons with distinct URLs, user agents and variants:
// page groups stay at most cap + 1, memory stays bounded, and the overflow is counted.
func TestCardinalitySpray(t *testing.T) {
	if testing.Short() {
		t.Skip("posts 100,000 beacons")
	}
	const pageCap = 500
	ts := startServerAgg(t, func(o *Options, _ *enrich.Options) { o.RateLimit.PerAddr, o.RateLimit.PerPrefix = 0, 0 },
		func(a *aggregator.Options) { a.Caps[0] = pageCap })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	now := time.Now()
	const total, batch = 100000, 80
	for i := 0; i < total; i += batch {
		var arr []any
		for j := i; j < i+batch; j++ {
			b := testutil.Beacon(now, fmt.Sprintf("https://example.com/tag/w%x-%d/x", j*7919, j), float64(100+j%900), 1500)
			b["variant"] = fmt.Sprintf("v-%d", j)
			arr = append(arr, b)
		}
		code, _, body := ts.post(t, testutil.MustJSON(t, arr), map[string]string{"User-Agent": fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) Chrome/%d.0 Safari/537.36", i)})
		if code != 204 {
			t.Fatalf("batch %d: %d %s", i, code, body)
		}
	}
	ts.waitApplied(t, total)
	// The cap holds per window: count the page groups of each minute.
	var bypage struct {
		Series []struct {
			Points []struct{ T int64 }
		}
	}
	ts.get(t, "/api/v1/series?metric=ttfb&from=-1h&to=%2B1m&step=60&by=page", &bypage)
	perMinute := map[int64]int{}
	for _, s := range bypage.Series {
		for _, p := range s.Points {
			perMinute[p.T]++
		}
	}
	for minute, n := range perMinute {
		if n > pageCap+1 {
			t.Fatalf("%d page groups in the window at %d, cap is %d + __other__", n, minute, pageCap)
		}
	}
	var sum struct {
		Rows []struct{ Count float64 }
	}
	ts.get(t, "/api/v1/summary?metric=ttfb&from=-1h", &sum)
	if len(sum.Rows) != 1 || sum.Rows[0].Count != total {
		t.Fatalf("overall count after the spray: %+v", sum.Rows)
	}
	// Each window the spray touched admits pageCap pages; the rest overflowed.
	if got, want := ts.counter(t, "rumd_cardinality_overflow_total", "dim", "page"), float64(total-pageCap*len(perMinute)); got < want {
		t.Fatalf("page overflow counted %v over %d windows, want ≥ %v", got, len(perMinute), want)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapInuse) - int64(heapBefore)
	t.Logf("heap grew %d MiB for the spray's live sketches", grown>>20)
	if grown > 256<<20 {
		t.Fatalf("heap grew %d MiB under a cardinality spray, bound is 256 MiB", grown>>20)
	}
	_ = json.Marshal
}

// TestReadRateLimitAnswers429: the query and Graphite reads of one client address are
// limited apart from its beacons: past the read burst a read is answered 429
// rate_limited with a Retry-After and counted, while the same client's beacons and
// another client's reads still go through.
func TestReadRateLimitAnswers429(t *testing.T) {
	ts := startServer(t, func(o *Options, _ *enrich.Options) {
		o.ReadRateLimit = ratelimit.Options{PerAddr: 1, AddrBurst: 3, PerPrefix: 1000, PrefixBurst: 1000, MaxTracked: 100, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
	})
	read := func(xff string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/summary?metric=ttfb", nil)
		req.Header.Set("X-Forwarded-For", xff)
		return do(t, req)
	}
	codes := map[int]int{}
	var hdr http.Header
	var last []byte
	for i := 0; i < 6; i++ {
		code, h, b := read("192.0.2.10")
		codes[code]++
		if code == 429 {
			hdr, last = h, b
		}
	}
	if codes[200] != 3 || codes[429] != 3 {
		t.Fatalf("statuses %v, want 3 answered then 3 limited", codes)
	}
	if hdr.Get("Retry-After") == "" || !strings.Contains(string(last), `"rate_limited"`) {
		t.Fatalf("429 answer lacks Retry-After or its reason: %v %s", hdr, last)
	}
	if got := ts.counter(t, "rumd_query_errors_total", "reason", "rate_limited"); got != 3 {
		t.Fatalf("rumd_query_errors_total{reason=rate_limited} = %v, want 3", got)
	}
	if code, _, _ := ts.post(t, testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900)), map[string]string{"X-Forwarded-For": "192.0.2.10"}); code != 204 {
		t.Fatalf("the limited reader's beacon: %d, want 204", code)
	}
	if code, _, b := read("198.51.100.3"); code != 200 {
		t.Fatalf("another reader: %d %s", code, b)
	}
}
