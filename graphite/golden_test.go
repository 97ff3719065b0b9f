package graphite

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden pins the JSON rumd answers to Grafana for fixed data at a fixed clock: a
// wrapped render of several targets (a comparison among them), a find, and /functions. Run
// with -update to accept a deliberate change.
func TestGolden(t *testing.T) {
	now := time.Date(2025, 11, 21, 8, 0, 25, 0, time.UTC)
	e := mustEnv(t, now, seedRecords(now, []int64{0, 60, 120, 300}, 25, 42))
	type exchange struct {
		Request  url.Values      `json:"request"`
		Path     string          `json:"path"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	var got []exchange
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/render", grafanaForm("A", "rumd.country.{DE,US}.ttfb.{count,p75}", "-5min", "now", 1000)},
		{"/render", grafanaForm("B", "groupByNode(rumd.page_country.*.DE.lcp.p95, 2, 'merge')", "-6h", "now", 1)},
		{"/render", grafanaForm("C", "timeShift(mergeSeries(rumd.page.~search.inp.p50), '1min')", "-3min", "now", 100)},
		{"/render", grafanaForm("D", "sumSeries(rumd.nav.*.ttfb.p95)", "-5min", "now", 100)},
		{"/render", grafanaForm("E", "comparePercentiles(timeShift(mergeSeries(rumd.country.*.ttfb.p75), '3min'), mergeSeries(rumd.country.*.ttfb.p75), true)", "-3min", "now", 1000)},
		{"/metrics/find?from=-1h&until=now", url.Values{"query": {"rumd.page.*"}}},
		{"/functions", url.Values{}},
	} {
		var raw json.RawMessage
		code := e.post(t, tc.path, tc.form, &raw)
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", " "); err != nil {
			t.Fatal(err)
		}
		got = append(got, exchange{tc.form, tc.path, code, buf.Bytes()})
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	checkGolden(t, filepath.Join("testdata", "grafana.golden.json"), b)
}

// checkGolden compares got with the golden file at path, rewriting it first with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./graphite -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s; if the change is meant, run go test ./graphite -run %s -update and review the diff.\n%s", path, t.Name(), firstDiff(want, got))
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return "want …" + string(a[lo:min(len(a), i+200)]) + "…\ngot  …" + string(b[lo:min(len(b), i+200)]) + "…"
}
