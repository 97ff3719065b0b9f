//go:build integration

package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// TestCardinalitySprayKeepsMemoryBounded sprays the real binary, default configuration, with
// 120,000 beacons of random pages × countries × variants (2,000 × 676 × 200, each dimension
// within or at its cap), then waits until every window they went to is written. Its peak RSS
// stays under 700 MiB (385 MiB measured): the views' series caps bound the live sketches,
// and the flush streams a window to disk instead of copying it. Before both, this spray
// made the [page, country] view hold a series per beacon and the flush copy the window
// twice over: 1,422 MiB. Nothing acknowledged is lost: every view counts every accepted
// beacon.
func TestCardinalitySprayKeepsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a minute window to close")
	}
	const total, perBody, peakBound = 120000, 50, 700 << 20
	r := startRumd(t, "--data", t.TempDir(), "--geoip", "none", "--country-header", "X-Country")
	client := &http.Client{Timeout: 10 * time.Second}
	page := func(i int) string { // letters g..z only: no page rule turns them into :id or :hex
		return string([]byte{byte('g' + i/400), byte('g' + i/20%20), byte('g' + i%20)})
	}
	var sent, accepted atomic.Int64
	var last atomic.Int64 // unix time of the last accepted body
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 21))
			for sent.Add(perBody) <= total && time.Now().Before(deadline) {
				batch := make([]any, perBody)
				for i := range batch {
					b := testutil.Beacon(time.Now(), "https://example.com/s/"+page(rnd.IntN(2000)), float64(20+rnd.IntN(3000)), float64(500+rnd.IntN(5000)))
					b["variant"] = fmt.Sprintf("v%d", rnd.IntN(200))
					batch[i] = b
				}
				req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(testutil.MustJSON(t, batch)))
				req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
				req.Header.Set("X-Country", string([]byte{byte('A' + rnd.IntN(26)), byte('A' + rnd.IntN(26))}))
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("post: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("post: %s", resp.Status)
					return
				}
				accepted.Add(perBody)
				last.Store(time.Now().Unix())
			}
		}(g)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d beacons accepted in %s", accepted.Load(), 60*time.Second-time.Until(deadline))
	// Every window the spray went to is written (and its flush done) when the storage
	// watermark passes the minute of the last beacon.
	end := (last.Load()/60 + 1) * 60
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		f := r.Metric("rumd_storage_flushed_until_seconds")
		return f >= float64(end), fmt.Sprintf("flushed until %v, want %d", f, end)
	})
	peak := testutil.StatusBytes(t, r.PID(), "VmHWM")
	capped := r.Metric("rumd_series_capped_total", "view", "page,country")
	t.Logf("peak RSS %.0f MiB; %v records folded into [page, country]'s overflow series", float64(peak)/(1<<20), capped)

	// Nothing acknowledged is lost, in a view merged from the capped one and in the capped one.
	from := fmt.Sprint(end - 600)
	for _, by := range []string{"", "page", "page,country"} {
		q := url.Values{"metric": {"ttfb"}, "from": {from}, "to": {fmt.Sprint(end)}}
		if by != "" {
			q["by"] = []string{by}
		}
		var n float64
		for _, row := range r.summary(q).Rows {
			n += row.Count
		}
		if n != float64(accepted.Load()) {
			t.Errorf("by %q: %v beacons counted, %d accepted", by, n, accepted.Load())
		}
	}
	if capped == 0 {
		t.Errorf("the spray folded nothing into [page, country]'s overflow series")
	}
	if peak > peakBound {
		t.Errorf("peak RSS %.0f MiB under a cardinality spray; bound %d MiB", float64(peak)/(1<<20), peakBound>>20)
	}
	r.stop(syscall.SIGTERM)
}
