//go:build integration

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

func (r *rumd) count(from, to int64) float64 {
	s := r.summary(url.Values{"metric": {"ttfb"}, "from": {fmt.Sprint(from)}, "to": {fmt.Sprint(to)}})
	if len(s.Rows) == 0 {
		return 0
	}
	return s.Rows[0].Count
}

// TestKill9LosesAtMostTheOpenWindow posts beacons under load, kills rumd with SIGKILL once
// a window with data has been written, and restarts it on the same directory: it verifies
// its tables, starts, every closed window is intact, and at most the open one is missing.
func TestKill9LosesAtMostTheOpenWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a minute window to close")
	}
	dir := t.TempDir()
	r := startRumd(t, "--data", dir)
	start := time.Now().Unix()
	var accepted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/p", float64(100+i%500), 1500))
				req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(body))
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
				resp, err := testutil.HTTP.Do(req)
				if err != nil {
					return // rumd was killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 204 {
					accepted.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	// Wait for a closed window with data to be on disk (at most ~62 s + flush).
	var flushed int64
	testutil.Eventually(t, 100*time.Second, func() (bool, string) {
		flushed = int64(r.Metric("rumd_storage_flushed_until_seconds"))
		return flushed > start, "no window with data flushed"
	})
	closedBefore := r.count(start-60, flushed)
	time.Sleep(1500 * time.Millisecond) // more beacons into the open window
	r.stop(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	if closedBefore == 0 {
		t.Fatal("no beacons in the closed windows")
	}
	r = startRumd(t, "--data", dir)
	if !strings.Contains(r.Logs(), "verifying table checksums") {
		t.Fatalf("restart after kill -9 did not verify the store:\n%s", r.Logs())
	}
	if got := r.count(start-60, flushed); got != closedBefore {
		t.Fatalf("closed windows held %v beacons before kill -9, %v after", closedBefore, got)
	}
	total := r.count(start-60, time.Now().Unix()+120)
	t.Logf("accepted %d, closed windows %v, after restart %v (lost from the open window: %v)",
		accepted.Load(), closedBefore, total, float64(accepted.Load())-total)
	if total < closedBefore || total > float64(accepted.Load()) {
		t.Fatalf("after restart %v beacons; closed windows had %v, %d were accepted", total, closedBefore, accepted.Load())
	}
	r.stop(syscall.SIGTERM)
}

// TestClientAddressesNeverStored: after a run with several client addresses, neither the
// data directory nor the logs contain any of them.
func TestClientAddressesNeverStored(t *testing.T) {
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country,
		geoipfile.Network{CIDR: "81.2.69.0/24", Country: "GB"}, geoipfile.Network{CIDR: "2001:db8::/32", Country: "JP"})
	dir := t.TempDir()
	r := startRumd(t, "--data", dir, "--geoip", geo, "--log-level", "debug", "--rate-limit", "2", "--rate-limit-burst", "3")
	addrs := []string{"81.2.69.142", "81.2.69.160", "2001:db8:85a3::8a2e:370:7334", "203.0.113.77"}
	for _, a := range addrs {
		for i := 0; i < 5; i++ { // past the burst, so refusals are exercised too
			good := testutil.Beacon(time.Now(), "https://example.com/q/1", 200, 1000)
			r.post(testutil.MustJSON(t, good), a)
			bad := testutil.Beacon(time.Now(), "https://example.com/q/1", 200, 1000)
			bad["nt"].(map[string]any)["responseStart"] = -3.0
			r.post(testutil.MustJSON(t, []any{good, bad}), a)
		}
	}
	if r.count(time.Now().Unix()-600, time.Now().Unix()+60) == 0 {
		t.Fatal("nothing was accepted")
	}
	r.stop(syscall.SIGTERM)
	logs := r.Logs()
	var needles [][]byte
	for _, a := range addrs {
		needles = append(needles, []byte(a))
		ip := netip.MustParseAddr(a)
		if ip.Is6() {
			b := ip.As16()
			needles = append(needles, b[:])
		}
	}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s contains client address %q", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if strings.Contains(logs, a) {
			t.Errorf("logs contain client address %s", a)
		}
	}
}
