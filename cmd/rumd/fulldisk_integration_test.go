//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// fullDiskArgs run rumd with 1 MiB memtables (a 6 MiB reserve) on a 30 MiB tmpfs.
var fullDiskArgs = []string{"--disk-memtable-bytes", "1048576", "--shutdown-timeout", "10s"}

// quick is the client of these tests: every call has a deadline.
var quick = &http.Client{Timeout: 10 * time.Second}

// getJSON reads url's JSON answer into v and returns its status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := quick.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// stored is the number of ttfb values rumd answers for [from, to) through the summary API.
func stored(t *testing.T, base string, from, to int64) float64 {
	t.Helper()
	var s summary
	q := url.Values{"metric": {"ttfb"}, "from": {fmt.Sprint(from)}, "to": {fmt.Sprint(to)}}
	if code := getJSON(t, base+"/api/v1/summary?"+q.Encode(), &s); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	if len(s.Rows) == 0 {
		return 0
	}
	return s.Rows[0].Count
}

type readyAnswer struct {
	Status     string
	Components map[string]struct {
		Status     string
		Attributes map[string]any
	}
}

type statusStorage struct {
	Storage struct {
		Full         bool  `json:"full"`
		FreeBytes    int64 `json:"free_bytes"`
		HeldWindows  int64 `json:"held_windows"`
		FlushedUntil int64 `json:"flushed_until"`
	}
}

// load posts beacons from 4 workers until stop is closed (at most 3 minutes and 100,000
// beacons each), counting the answers by status and reason.
type load struct {
	accepted, storageFull, other atomic.Int64
	retryAfter                   atomic.Bool // every storage_full answer had Retry-After
	firstOther                   atomic.Value
	stop                         chan struct{}
	wg                           sync.WaitGroup
}

func startLoad(t *testing.T, base string) *load {
	l := &load{stop: make(chan struct{})}
	l.retryAfter.Store(true)
	deadline := time.Now().Add(3 * time.Minute)
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body := testutil.MustJSON(t, testutil.Beacon(time.Now(), fmt.Sprintf("https://example.com/p%d", i%20), float64(100+i%500), 1500))
				req, _ := http.NewRequest("POST", base+"/timings", bytes.NewReader(body))
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
				resp, err := quick.Do(req)
				if err != nil {
					l.other.Add(1)
					l.firstOther.CompareAndSwap(nil, err.Error())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 204:
					l.accepted.Add(1)
				case resp.StatusCode == 503 && strings.Contains(string(answer), `"storage_full"`):
					l.storageFull.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						l.retryAfter.Store(false)
					}
				default:
					l.other.Add(1)
					l.firstOther.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, answer))
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) end() { close(l.stop); l.wg.Wait() }

// TestFullDiskHoldsRefusesAndRecovers runs the real binary with its data on a 30 MiB tmpfs
// under load and fills the disk: rumd keeps running, /readyz and /api/v1/status say the
// disk is full, the closed window is held in memory and beacons are refused 503
// storage_full with Retry-After once the held windows reach --disk-hold-bytes; once space
// is freed the held windows are written, and after a restart every beacon answered 204 is
// in storage. Then a SIGTERM while the disk is full returns within the shutdown timeout
// and logs the windows it could not write.
func TestFullDiskHoldsRefusesAndRecovers(t *testing.T) {
	dir := testutil.MustTmpfs(t, 30<<20)
	data, filler := filepath.Join(dir, "data"), filepath.Join(dir, "filler")
	// A 1-byte bound: the first window held reaches it.
	r := startRumd(t, append([]string{"--data", data, "--disk-hold-bytes", "1"}, fullDiskArgs...)...)
	start := time.Now().Unix()
	l := startLoad(t, r.url)
	defer func() {
		select {
		case <-l.stop:
		default:
			l.end()
		}
	}()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return l.accepted.Load() > 100, "no beacons accepted"
	})
	filled := testutil.MustFill(t, filler, 3<<20) // half the reserve left
	t.Logf("filled %d MiB", filled>>20)

	var ready readyAnswer
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		code := getJSON(t, r.url+"/readyz", &ready)
		st := ready.Components["storage"]
		return code == 503 && st.Status == "critical" && st.Attributes["reason"] == "storage_full", fmt.Sprintf("/readyz %d %+v", code, ready)
	})
	// Beacons are accepted until a closed window cannot be written (at most a minute and
	// the grace period), then refused.
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		return l.storageFull.Load() > 50, fmt.Sprintf("%d storage_full answers, %d accepted, %d other (%v)", l.storageFull.Load(), l.accepted.Load(), l.other.Load(), l.firstOther.Load())
	})
	var st statusStorage
	getJSON(t, r.url+"/api/v1/status", &st)
	if !st.Storage.Full || st.Storage.HeldWindows < 1 || st.Storage.FreeBytes > 6<<20 {
		t.Fatalf("/api/v1/status while the disk is full: %+v", st.Storage)
	}
	if r.Metric("rumd_storage_full") != 1 || r.Metric("rumd_beacons_rejected_total", "reason", "storage_full") < 50 {
		t.Fatalf("rumd_storage_full %v, rejected storage_full %v", r.Metric("rumd_storage_full"), r.Metric("rumd_beacons_rejected_total", "reason", "storage_full"))
	}
	time.Sleep(time.Second) // a few more retries, each of which must not log again
	if n := strings.Count(r.Logs(), "storage refuses windows"); n != 1 || !r.Running() {
		t.Fatalf("running %v; the full disk was logged %d times, want once:\n%s", r.Running(), n, r.Logs())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		code := getJSON(t, r.url+"/readyz", &ready)
		getJSON(t, r.url+"/api/v1/status", &st)
		return code == 200 && !st.Storage.Full && st.Storage.HeldWindows == 0, fmt.Sprintf("/readyz %d, status %+v", code, st.Storage)
	})
	accepted := l.accepted.Load()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return l.accepted.Load() > accepted+100, "no beacons accepted once space is back"
	})
	l.end()
	if l.other.Load() != 0 || !l.retryAfter.Load() {
		t.Fatalf("%d answers neither 204 nor 503 storage_full (first: %v); Retry-After on every storage_full: %v", l.other.Load(), l.firstOther.Load(), l.retryAfter.Load())
	}
	if !strings.Contains(r.Logs(), "every held window is written") {
		t.Fatalf("the recovery was not logged:\n%s", r.Logs())
	}
	// The window open at the recovery is written by the flush loop too, before the stop. A
	// SIGTERM within a second of the recovery was seen to hang the aggregator's drain until
	// the shutdown timeout (3 runs in about 30, not understood yet; rumd logs every
	// goroutine's stack when a drain times out, to find it): this test is about the disk,
	// so it stops rumd once the disk's windows are all written.
	after := time.Now().Unix()/60*60 + 60
	testutil.Eventually(t, 100*time.Second, func() (bool, string) {
		getJSON(t, r.url+"/api/v1/status", &st)
		return st.Storage.FlushedUntil >= after, fmt.Sprintf("flushed until %d, want %d", st.Storage.FlushedUntil, after)
	})
	r.stop(syscall.SIGTERM)

	// After a restart everything is read from storage: every 204 is there.
	r = startRumd(t, append([]string{"--data", data}, fullDiskArgs...)...)
	got := stored(t, r.url, start-60, time.Now().Unix()+120)
	t.Logf("accepted %d, refused storage_full %d, stored %v", l.accepted.Load(), l.storageFull.Load(), got)
	if got != float64(l.accepted.Load()) {
		t.Fatalf("%d beacons answered 204, %v stored", l.accepted.Load(), got)
	}

	// SIGTERM while the disk is full: the open window cannot be written; rumd says so and
	// exits within its shutdown timeout instead of hanging or faulting.
	if s := time.Now().Second(); s > 45 { // all 20 in the open window, not one closing now
		time.Sleep(time.Duration(63-s) * time.Second)
	}
	for i := 0; i < 20; i++ {
		body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/last", 100, 1500))
		req, _ := http.NewRequest("POST", r.url+"/timings", bytes.NewReader(body))
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
		resp, err := quick.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("beacon before the shutdown: %d", resp.StatusCode)
		}
	}
	testutil.MustFill(t, filler, 1<<20)
	t0 := time.Now()
	_ = r.Stop(syscall.SIGTERM)
	took := time.Since(t0)
	logs := r.Logs()
	if took > 15*time.Second || !strings.Contains(logs, `"unwritten_windows":1`) || !strings.Contains(logs, `"unwritten_beacons":20`) {
		t.Fatalf("shutdown on a full disk took %s; logs:\n%s", took, logs)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r = startRumd(t, append([]string{"--data", data}, fullDiskArgs...)...)
	if got2 := stored(t, r.url, start-60, time.Now().Unix()+120); got2 != got {
		t.Fatalf("after a shutdown on a full disk, %v stored, %v before", got2, got)
	}
	r.stop(syscall.SIGTERM)
}
