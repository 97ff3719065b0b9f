package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/internal/testutil"
)

func TestPrometheusConfig(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", writeConfig(t, `
storage: none
prometheus:
  path: /rum-metrics
  views: [[], [country]]
  metrics: [ttfb, lcp]
  idle_after: 30m
  max_series: 500
`)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := buildOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tot := o.agg.Totals
	if cfg.Storage != "none" || o.server.RUMMetricsPath != "/rum-metrics" || fmt.Sprint(tot.Views) != fmt.Sprint([]series.Mask{series.MaskOf(), series.MaskOf(series.Country)}) ||
		fmt.Sprint(tot.Metrics) != fmt.Sprint([]series.Metric{series.TTFB, series.LCP}) || tot.IdleAfter != 30*time.Minute || tot.MaxSeries != 500 {
		t.Fatalf("storage %q, path %q, totals %+v", cfg.Storage, o.server.RUMMetricsPath, tot)
	}
	// Default: every configured view (what the Prometheus dashboards read); --prometheus=false: none.
	cfg, _ = loadConfig(nil)
	o, _ = buildOptions(cfg)
	var got []string
	for _, m := range o.agg.Totals.Views {
		got = append(got, series.View{Mask: m, Dims: m.Dims()}.String())
	}
	if want := "total page country device nav variant page,country country,device country,variant probe variant,probe country,probe"; strings.Join(got, " ") != want {
		t.Fatalf("default exposed views %q, want %q", got, want)
	}
	cfg, _ = loadConfig([]string{"--prometheus=false"})
	if o, _ = buildOptions(cfg); len(o.agg.Totals.Views) != 0 {
		t.Fatalf("--prometheus=false exposes %v", o.agg.Totals.Views)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--storage", "disk"}, `storage: must be one of badger none, got "disk"`},
		{[]string{"--prometheus-metrics", "ttfb,speed"}, `"speed" is not one of`},
		{[]string{"--prometheus-views", "page,device"}, "not a materialised view"},
		{[]string{"--prometheus-views", "planet"}, `unknown dimension "planet"`},
		{[]string{"--prometheus-idle", "1m"}, "at least 2m"},
		{[]string{"--prometheus-max-series", "0"}, "max_series"},
		{[]string{"--prometheus-path", "/metrics"}, "path of its own"},
	} {
		if _, err := loadConfig(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// TestStatelessNode runs `rumd serve --storage none`: beacons are counted, the query API
// answers them from the open window, /metrics/rum exposes them, and the data directory is
// never created.
func TestStatelessNode(t *testing.T) {
	// A window that closes during the test is forgotten by design: start early in a minute.
	if s := time.Now().Second(); s > 50 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	data := filepath.Join(t.TempDir(), "never")
	base := startInProcess(t, "--storage", "none", "--data", data)
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest("POST", base+"/timings", bytes.NewReader(testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/", float64(100+i), 900))))
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
		resp, err := testutil.HTTP.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("post: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	var sum struct{ Rows []struct{ Count float64 } }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v1/summary?metric=ttfb&from=-10m")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&sum)
		resp.Body.Close()
		if len(sum.Rows) == 1 && sum.Rows[0].Count == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary %+v, want 50 beacons", sum)
		}
	}
	resp, err := http.Get(base + "/metrics/rum")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `rumd_ttfb_milliseconds_count{view="total"} 50`) {
		t.Fatalf("/metrics/rum lacks the 50 beacons:\n%.2000s", body)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("stateless node touched %s: %v", data, err)
	}
	if _, err := os.Stat(filepath.Dir(data)); err != nil {
		t.Fatalf("control: %v", err)
	}
}
