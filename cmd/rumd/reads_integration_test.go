//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// letters spells i in base 26 (a page name the page-group rule keeps as it is).
func letters(i int) string {
	s := ""
	for {
		s = string(rune('a'+i%26)) + s
		if i /= 26; i == 0 {
			return s
		}
	}
}

// TestExpensiveReadsAfterACardinalitySpray: a bounded cardinality spray (60,000 beacons,
// each a new page × country pair, with 200 variants, through a trusted proxy naming the
// country) fills one window; once it is on disk, eight wide reads run at once (render of
// every two-dimension series with maxDataPoints=1, wildcard find, compare and series by
// page and country) while beacons keep flowing. Each read answers within the query timeout plus
// slack, with an answer or a refusal reason; rumd's resident memory grows by less than
// 300 MB; and ingest keeps taking most of what is offered.
func TestExpensiveReadsAfterACardinalitySpray(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a minute window to close")
	}
	const queryTimeout = 15 * time.Second
	r := startRumd(t, "--data", t.TempDir(), "--geoip", "none", "--country-header", "CF-IPCountry", "--query-timeout", queryTimeout.String())
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(body []byte, country, xff string) (int, time.Duration) {
		req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("CF-IPCountry", country)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, time.Since(t0)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t0)
	}

	// The spray: 600 posts of 100 beacons; post k names country k%300 (within the
	// country cap) and 100 pages of a block of 2,000 (the page cap), so every beacon is a
	// new pair.
	const posts, batch = 600, 100
	sprayStart := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < posts; k += 4 {
				country := fmt.Sprintf("%c%c", 'A'+k%300/26, 'A'+k%300%26)
				block := (k/300 + k) % 20
				var beacons []any
				for j := 0; j < batch; j++ {
					b := testutil.Beacon(time.Now(), "https://example.com/"+letters(block*batch+j), float64(100+j), 1500)
					b["variant"] = fmt.Sprintf("v%d", (k*batch+j)%200)
					beacons = append(beacons, b)
				}
				if code, _ := post(testutil.MustJSON(t, beacons), country, fmt.Sprintf("203.0.%d.%d", k/250, k%250+1)); code == 204 {
					sent.Add(batch)
				}
			}
		}()
	}
	wg.Wait()
	if sent.Load() < posts*batch*9/10 {
		t.Fatalf("the spray got %d of %d beacons in", sent.Load(), posts*batch)
	}
	t.Logf("spray: %d beacons in %s", sent.Load(), time.Since(sprayStart).Round(time.Millisecond))
	sprayEnd := time.Now().Unix()/60*60 + 60
	testutil.Eventually(t, 150*time.Second, func() (bool, string) {
		f := int64(r.Metric("rumd_storage_flushed_until_seconds"))
		return f >= sprayEnd, fmt.Sprintf("flushed until %d, want %d", f, sprayEnd)
	})

	// Beacons keep flowing during the reads: 2 senders, one beacon every 10 ms each.
	stop := make(chan struct{})
	var offered, accepted atomic.Int64
	var slowest atomic.Int64
	var ingest sync.WaitGroup
	for w := 0; w < 2; w++ {
		ingest.Add(1)
		go func() {
			defer ingest.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				offered.Add(1)
				code, took := post(testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/steady", 120, 1400)), "DE", "198.51.100.7")
				if code == 204 {
					accepted.Add(1)
				}
				for s := slowest.Load(); int64(took) > s && !slowest.CompareAndSwap(s, int64(took)); s = slowest.Load() {
				}
			}
		}()
	}

	pid := r.PID()
	before := testutil.StatusBytes(t, pid, "VmRSS")
	var peak atomic.Int64
	peak.Store(before)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if v := testutil.StatusBytes(t, pid, "VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()

	reads := []string{
		"/render?" + url.Values{"target": {"rumd.*.*.*.*.*"}, "maxDataPoints": {"1"}, "from": {"-15min"}, "format": {"json"}}.Encode(),
		"/render?" + url.Values{"target": {"rumd.*.*.*.*.*"}, "maxDataPoints": {"1"}, "from": {"-15min"}, "format": {"json"}}.Encode(),
		"/render?" + url.Values{"target": {"rumd.*.*.*.*.*"}, "maxDataPoints": {"1"}, "from": {"-15min"}, "format": {"json"}}.Encode(),
		"/render?" + url.Values{"target": {"rumd.*.*.*.*.*"}, "maxDataPoints": {"1"}, "from": {"-15min"}, "format": {"json"}}.Encode(),
		"/metrics/find?" + url.Values{"query": {"rumd.page_country.*.AC"}}.Encode(),
		"/metrics/find?" + url.Values{"query": {"rumd.page_country.*.*"}}.Encode(),
		"/api/v1/compare?" + url.Values{"metric": {"ttfb"}, "by": {"page,country"}, "a.from": {"-15min"}, "a.to": {"-5min"}, "b.from": {"-5min"}, "b.to": {"now"}}.Encode(),
		"/api/v1/series?" + url.Values{"metric": {"ttfb"}, "by": {"page,country"}, "from": {"-15min"}}.Encode(),
	}
	refusals := map[string]bool{"too_many_points": true, "too_much_data": true, "overloaded": true, "timeout": true}
	readClient := &http.Client{Timeout: queryTimeout + 30*time.Second}
	t0 := time.Now()
	var rwg sync.WaitGroup
	results := make([]string, len(reads))
	for i, path := range reads {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			start := time.Now()
			resp, err := readClient.Get(r.url + path)
			took := time.Since(start)
			if err != nil {
				t.Errorf("%s: %v after %s", path, err, took)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Reason string }
			_ = json.Unmarshal(body, &e)
			results[i] = fmt.Sprintf("%d %s in %s", resp.StatusCode, e.Reason, took.Round(time.Millisecond))
			switch {
			case took > queryTimeout+3*time.Second:
				t.Errorf("%s answered %d after %s, past the %s query timeout", path, resp.StatusCode, took, queryTimeout)
			case resp.StatusCode == 200 && json.Valid(body):
			case resp.StatusCode != 200 && refusals[e.Reason]:
				if (e.Reason == "overloaded") != (resp.Header.Get("Retry-After") != "") {
					t.Errorf("%s: %d %s with Retry-After %q", path, resp.StatusCode, e.Reason, resp.Header.Get("Retry-After"))
				}
			default:
				t.Errorf("%s: %d %.300s", path, resp.StatusCode, body)
			}
		}()
	}
	rwg.Wait()
	readsTook := time.Since(t0)
	close(stop)
	ingest.Wait()
	<-sampled

	growth := peak.Load() - before
	rate := float64(accepted.Load()) / readsTook.Seconds()
	t.Logf("reads took %s: %s", readsTook.Round(time.Millisecond), strings.Join(results, "; "))
	t.Logf("RSS %d MB before, peak %d MB (+%d MB); ingest %d of %d offered (%.0f/s), slowest %s",
		before>>20, peak.Load()>>20, growth>>20, accepted.Load(), offered.Load(), rate, time.Duration(slowest.Load()).Round(time.Millisecond))
	if growth > 300<<20 {
		t.Errorf("rumd's resident memory grew by %d MB during the reads, want under 300 MB", growth>>20)
	}
	// The senders offer 200/s when every post is answered at once; a slow ingest path
	// offers fewer, so the floor is on the rate taken, half the nominal one.
	if rate < 100 {
		t.Errorf("ingest took %d beacons in %s during the reads (%.0f/s), want at least 100/s of the 200/s offered", accepted.Load(), readsTook.Round(time.Millisecond), rate)
	}
	if s := time.Duration(slowest.Load()); s > 5*time.Second {
		t.Errorf("the slowest beacon during the reads took %s, want under 5 s", s)
	}
}
