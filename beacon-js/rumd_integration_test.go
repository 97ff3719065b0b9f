//go:build integration

package beaconjs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"rumd/internal/testutil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rumdBin is the rumd binary TestMain builds from this checkout.
var rumdBin string

func TestMain(m *testing.M) { testutil.RunWithRumd(m, &rumdBin) }

// rumdConfig is the part of rumd's YAML config these tests set.
type rumdConfig struct {
	SampleRate     float64
	EmbedMaxSample float64
	Probes         [][2]string // name, URL
	// Extra is YAML appended as it is, e.g. an experiments: block.
	Extra string
	// MaskWebdriver makes the recording proxy put the navigator.webdriver mask at the top
	// of every HTML page rumd serves (and allow it in the page's CSP), for an engine that
	// cannot run it before the page's scripts itself (docs/browsers.md).
	MaskWebdriver bool
}

func (c rumdConfig) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "snippet:\n  sample_rate: %v\ntest_page:\n  embed_max_sample: %v\n  probes:", c.SampleRate, c.EmbedMaxSample)
	if len(c.Probes) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for _, p := range c.Probes {
		fmt.Fprintf(&b, "    - name: %q\n      url: %q\n", p[0], p[1])
	}
	b.WriteString(c.Extra)
	return b.String()
}

// rumdServer is one `rumd serve` process on 127.0.0.1 with its own data directory, and a
// reverse proxy in front of it that records the beacons posted through it: the browser
// talks to Front, the tests query URL.
type rumdServer struct {
	URL   string
	Front string
	proc  *testutil.Rumd

	maskWebdriver bool

	mu     sync.Mutex
	posted [][]byte
}

// beacons returns the bodies posted to /timings through Front so far.
func (s *rumdServer) beacons() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.posted...)
}

// front starts the recording proxy.
func (s *rumdServer) front(t testing.TB) {
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	if s.maskWebdriver {
		direct := proxy.Director
		proxy.Director = func(r *http.Request) {
			direct(r)
			r.Header.Del("Accept-Encoding") // the page is rewritten: no compression
		}
		proxy.ModifyResponse = func(res *http.Response) error {
			if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				return nil
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			body, csp := injectMask(body, res.Header.Get("Content-Security-Policy"))
			if csp != "" {
				res.Header.Set("Content-Security-Policy", csp)
			}
			res.Body = io.NopCloser(bytes.NewReader(body))
			res.ContentLength = int64(len(body))
			res.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/timings" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			s.posted = append(s.posted, body)
			s.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Front = srv.URL
}

// mustStartRumd starts rumd with cfg and stops it (SIGTERM, then kill) when the test ends;
// the server's output and config, and the last beacons posted, are logged if the test failed.
func mustStartRumd(t testing.TB, cfg rumdConfig) *rumdServer {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rumd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.yaml()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rumd config:\n%s", cfg.yaml())
		}
	})
	r := testutil.StartRumd(t, rumdBin, "--data", filepath.Join(dir, "data"), "--config", cfgPath)
	s := &rumdServer{URL: r.URL, proc: r, maskWebdriver: cfg.MaskWebdriver}
	s.front(t)
	t.Cleanup(func() {
		if t.Failed() {
			got := s.beacons()
			t.Logf("%d beacons posted through the proxy", len(got))
			for _, b := range got[max(0, len(got)-3):] {
				t.Logf("  %s", b)
			}
		}
	})
	return s
}

// counters reads rumd's own /metrics: beacons accepted, and rejected by reason.
func (s *rumdServer) counters(t testing.TB) (accepted float64, rejected map[string]float64) {
	t.Helper()
	mfs := s.proc.Metrics("")
	rejected = map[string]float64{}
	if mf := mfs["rumd_beacons_accepted_total"]; mf != nil && len(mf.GetMetric()) == 1 {
		accepted = mf.GetMetric()[0].GetCounter().GetValue()
	}
	if mf := mfs["rumd_beacons_rejected_total"]; mf != nil {
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 && len(m.GetLabel()) == 1 {
				rejected[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return accepted, rejected
}

// waitAccepted waits until rumd counted n accepted beacons (or any rejection), and fails the
// test if it counted another number or rejected one.
func (s *rumdServer) waitAccepted(t testing.TB, n float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		acc, rej := s.counters(t)
		if len(rej) > 0 {
			t.Fatalf("rumd rejected beacons: %v (accepted %v)", rej, acc)
		}
		if acc == n {
			// Anything late (a second beacon) would show up now.
			time.Sleep(500 * time.Millisecond)
			acc, rej = s.counters(t)
			if acc != n || len(rej) > 0 {
				t.Fatalf("rumd accepted %v beacons and rejected %v, want exactly %v accepted", acc, rej, n)
			}
			return
		}
		if acc > n || time.Now().After(deadline) {
			t.Fatalf("rumd accepted %v beacons, want %v", acc, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seriesCounts queries /api/v1/series over the last hour and returns the count of values
// per value of the by dimension ("" without by).
func (s *rumdServer) seriesCounts(t testing.TB, metric, by string) map[string]int {
	t.Helper()
	q := url.Values{"metric": {metric}, "from": {"-1h"}, "to": {"now"}, "step": {"60"}}
	if by != "" {
		q.Set("by", by)
	}
	res, err := testutil.HTTP.Get(s.URL + "/api/v1/series?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Series []struct {
			Labels map[string]string `json:"labels"`
			Points []struct {
				Count int `json:"count"`
			} `json:"points"`
		} `json:"series"`
	}
	if res.StatusCode != 200 {
		var e bytes.Buffer
		e.ReadFrom(res.Body)
		t.Fatalf("series %s by %q: status %d: %s", metric, by, res.StatusCode, e.String())
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("series %s: %v", metric, err)
	}
	out := map[string]int{}
	for _, s := range body.Series {
		for _, p := range s.Points {
			out[s.Labels[by]] += p.Count
		}
	}
	return out
}

// waitSeries polls seriesCounts until it holds want exactly (the aggregation lag is ≤ 2 s by
// docs/design.md §7; this allows more on a busy machine).
func (s *rumdServer) waitSeries(t testing.TB, metric, by string, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.seriesCounts(t, metric, by)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("series %s by %q: counts %v, want %v", metric, by, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
