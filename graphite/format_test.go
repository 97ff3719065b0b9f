package graphite

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// knownLCP are the LCP values of the page views seeded by knownEnv, per minute before now's
// minute (minute 3 has none: a gap).
var knownLCP = map[int64][]float64{
	5: {1000, 2000, 3000},
	4: {1500, 2500},
	3: nil,
	2: {4000},
	1: {1200, 1800, 2400, 3600},
}

// knownEnv is a stack at a fixed clock holding page views of the LCP values in knownLCP,
// one country and device each, and nothing in the live minute.
func knownEnv(t testing.TB) *env {
	now := time.Date(2025, 11, 21, 8, 0, 25, 0, time.UTC)
	var recs []series.Record
	for m, vals := range knownLCP {
		for i, v := range vals {
			r := series.Record{Time: floorTo(now.Unix(), 60) - m*60 + int64(i)}
			r.Labels[series.Page] = "/"
			r.Labels[series.Country] = "DE"
			r.Labels[series.Device] = "desktop"
			r.Labels[series.Nav] = "navigate"
			r.Labels[series.Variant] = "cdn-a"
			r.Set(series.LCP, v)
			recs = append(recs, r)
		}
	}
	return mustEnv(t, now, recs)
}

// fetch GETs path?q and returns the status, content type and body.
func (e *env) fetch(tb testing.TB, rawQuery string) (int, string, []byte) {
	tb.Helper()
	resp, err := http.Get(e.base + "/render?" + rawQuery)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestFormatsGolden pins raw, csv, json and svg answers for page views of known values at
// a fixed clock. Run with -update to accept a deliberate change.
func TestFormatsGolden(t *testing.T) {
	e := knownEnv(t)
	for _, tc := range []struct{ name, query, ctype string }{
		{"keeplast.raw", "target=keepLastValue(rumd.total.lcp.p50)&format=raw&from=-10mins", "text/plain"},
		{"count-p50.raw", "target=rumd.total.lcp.count&target=rumd.total.lcp.p50&format=raw&from=-6min", "text/plain"},
		{"count-p50.csv", "target=rumd.total.lcp.count&target=alias(rumd.total.lcp.p50,'p50, LCP')&format=csv&from=-6min&tz=Europe/Berlin", "text/csv"},
		{"moving-threshold.json", "target=movingAverage(rumd.total.lcp.p50,'3min')&target=threshold(2500,'LCP good','green')&target=transformNull(rumd.total.lcp.p50,-1)&format=json&from=-6min", "application/json"},
		{"graph.svg", "target=rumd.total.lcp.p50&target=threshold(2500.000000)&width=400&height=200&bgcolor=FFFFFF&fgcolor=000000&colorList=%23999999,%23006699&from=-6min&format=svg&title=LCP&vtitle=LCP%20p50", "image/svg+xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := e.fetch(t, tc.query)
			if code != 200 || !strings.HasPrefix(ctype, tc.ctype) {
				t.Fatalf("status %d, type %q: %s", code, ctype, body)
			}
			if tc.ctype == "image/svg+xml" {
				_, _, again := e.fetch(t, tc.query)
				if !bytes.Equal(body, again) {
					t.Fatal("the same svg request answered two different documents")
				}
			}
			checkGolden(t, filepath.Join("testdata", "formats", tc.name), body)
		})
	}
}

// rawSeries is one line of format=raw, read as an alerting tool reads it.
type rawSeries struct {
	name             string
	start, end, step int64
	values           []*float64
}

func parseRaw(t *testing.T, body []byte) []rawSeries {
	t.Helper()
	var out []rawSeries
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		head, vals, ok := strings.Cut(line, "|")
		if !ok {
			t.Fatalf("raw line %q has no |", line)
		}
		f := strings.Split(head, ",")
		if len(f) < 4 {
			t.Fatalf("raw head %q", head)
		}
		var s rawSeries
		s.name = strings.Join(f[:len(f)-3], ",")
		nums := make([]int64, 3)
		for i, x := range f[len(f)-3:] {
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				t.Fatalf("raw head %q: %v", head, err)
			}
			nums[i] = n
		}
		s.start, s.end, s.step = nums[0], nums[1], nums[2]
		for _, v := range strings.Split(vals, ",") {
			if v == "None" {
				s.values = append(s.values, nil)
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("raw value %q: %v", v, err)
			}
			s.values = append(s.values, &x)
		}
		out = append(out, s)
	}
	return out
}

// TestFormatsAgree asks the same targets in json, raw and csv and checks every format
// answers the same series, times and values.
func TestFormatsAgree(t *testing.T) {
	e := standardEnv(t)
	for _, targets := range []string{
		"target=rumd.country.{DE,US}.ttfb.{count,p75}",
		"target=keepLastValue(mergeSeries(rumd.page.*.lcp.p95))&target=threshold(2500,'good','green')",
		"target=movingWindow(rumd.total.inp.p75,'10min','merge')&target=scale(rumd.total.inp.count,2)",
		"target=removeBelowValue(rumd.device.*.cls.p75,0.05)&target=currentAbove(rumd.country.*.ttfb.p50,0)",
	} {
		q := targets + "&from=-2h&until=now&tz=America/New_York"
		var js []renderSeries
		code, _, body := e.fetch(t, q+"&format=json")
		if code != 200 || json.Unmarshal(body, &js) != nil {
			t.Fatalf("%s: json %d %s", targets, code, body)
		}
		if len(js) == 0 {
			t.Fatalf("%s: no series", targets)
		}
		code, _, body = e.fetch(t, q+"&format=raw")
		if code != 200 {
			t.Fatalf("%s: raw %d %s", targets, code, body)
		}
		raw := parseRaw(t, body)
		code, _, body = e.fetch(t, q+"&format=csv")
		if code != 200 {
			t.Fatalf("%s: csv %d %s", targets, code, body)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: csv: %v", targets, err)
		}
		if len(raw) != len(js) {
			t.Fatalf("%s: %d raw series, %d json", targets, len(raw), len(js))
		}
		ny, _ := time.LoadLocation("America/New_York")
		row := 0
		for i, s := range js {
			r := raw[i]
			if r.name != s.Target || r.step != s.Step || len(r.values) != len(s.Datapoints) {
				t.Fatalf("%s: raw %q step %d with %d values, json %q step %d with %d", targets, r.name, r.step, len(r.values), s.Target, s.Step, len(s.Datapoints))
			}
			if r.end != r.start+r.step*int64(len(r.values)) {
				t.Errorf("%s: raw end %d is not start %d + %d steps of %d", targets, r.end, r.start, len(r.values), r.step)
			}
			for j, p := range s.Datapoints {
				if ts := r.start + int64(j)*r.step; ts != int64(*p[1]) {
					t.Fatalf("%s: %q point %d at %d in raw, %v in json", targets, s.Target, j, ts, *p[1])
				}
				if !sameValue(p[0], r.values[j]) {
					t.Errorf("%s: %q point %d: json %v, raw %v", targets, s.Target, j, fmtPtr(p[0]), fmtPtr(r.values[j]))
				}
				c := rows[row]
				row++
				wantTime := time.Unix(int64(*p[1]), 0).In(ny).Format("2006-01-02 15:04:05")
				var cv *float64
				if c[2] != "" {
					x, err := strconv.ParseFloat(c[2], 64)
					if err != nil {
						t.Fatal(err)
					}
					cv = &x
				}
				if c[0] != s.Target || c[1] != wantTime || !sameValue(p[0], cv) {
					t.Errorf("%s: csv row %v, json %q %s %v", targets, c, s.Target, wantTime, fmtPtr(p[0]))
				}
			}
		}
		if row != len(rows) {
			t.Errorf("%s: csv has %d rows, json %d points", targets, len(rows), row)
		}
	}
}

func sameValue(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// TestMovingPercentileMergesSketches checks that a moving window over a percentile reads
// the percentile of every page view in the window, which is not the average of the
// window's percentiles.
func TestMovingPercentileMergesSketches(t *testing.T) {
	e := knownEnv(t)
	code, _, body := e.fetch(t, "target=movingAverage(rumd.total.lcp.p50,2)&target=movingWindow(rumd.total.lcp.count,2,'sum')&target=rumd.total.lcp.p50&format=raw&from=-5min")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	got := parseRaw(t, body)
	if len(got) != 3 {
		t.Fatalf("%d series: %s", len(got), body)
	}
	nowMin := floorTo(e.now.Unix(), 60)
	averaged := 0
	for j, v := range got[0].values {
		ts := got[0].start + int64(j)*got[0].step
		var window []float64
		var p50s []float64
		for m := (nowMin - ts) / 60; m <= (nowMin-ts)/60+1; m++ {
			window = append(window, knownLCP[m]...)
			if len(knownLCP[m]) > 0 {
				p50s = append(p50s, exactQuantile(knownLCP[m], 0.5))
			}
		}
		if cnt := got[1].values[j]; cnt == nil || *cnt != float64(len(window)) {
			t.Errorf("at %d: windowed count %v, seeded %d", ts, fmtPtr(cnt), len(window))
		}
		if len(window) == 0 {
			if v != nil {
				t.Errorf("at %d: %v over an empty window", ts, *v)
			}
			continue
		}
		want := exactQuantile(window, 0.5)
		if v == nil || math.Abs(*v-want)/want > sketch.RelativeAccuracy+1e-6 {
			t.Errorf("at %d: moving p50 %v, p50 of the window's %d page views %v", ts, fmtPtr(v), len(window), want)
		}
		mean := 0.0
		for _, p := range p50s {
			mean += p / float64(len(p50s))
		}
		if math.Abs(mean-want)/want > 0.05 {
			averaged++ // this window tells merging from averaging apart
		}
	}
	if averaged == 0 {
		t.Fatal("no window where the average of p50s differs from the merged p50: the data cannot tell them apart")
	}
}

// TestAlertingFunctions checks the filters and transforms against the known values.
func TestAlertingFunctions(t *testing.T) {
	e := knownEnv(t)
	last := func(t *testing.T, target string) (string, *float64) {
		t.Helper()
		code, _, body := e.fetch(t, "format=raw&from=-6min&target="+url.QueryEscape(target))
		if code != 200 {
			t.Fatalf("%s: %d %s", target, code, body)
		}
		rs := parseRaw(t, body)
		if len(rs) != 1 {
			t.Fatalf("%s: %d series", target, len(rs))
		}
		var lastV *float64
		for _, v := range rs[0].values {
			if v != nil {
				lastV = v
			}
		}
		return rs[0].name, lastV
	}
	count := func(t *testing.T, target string) int {
		t.Helper()
		code, _, body := e.fetch(t, "format=json&from=-6min&target="+url.QueryEscape(target))
		var got []renderSeries
		if code != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("%s: %d %s", target, code, body)
		}
		return len(got)
	}
	p50 := exactQuantile(knownLCP[1], 0.5) // the last minute with page views
	for _, tc := range []struct {
		target string
		name   string
		want   float64
	}{
		{"scale(rumd.total.lcp.count,0.5)", "scale(rumd.total.lcp.count,0.5)", 0}, // the live minute has none
		{"offset(rumd.total.lcp.count,10)", "offset(rumd.total.lcp.count,10)", 10},
		{"keepLastValue(rumd.total.lcp.p50)", "keepLastValue(rumd.total.lcp.p50)", p50},
		{"removeAboveValue(rumd.total.lcp.p100,3000)", "removeAboveValue(rumd.total.lcp.p100, 3000)", 2500},
		{"removeBelowValue(rumd.total.lcp.p0,1100)", "removeBelowValue(rumd.total.lcp.p0, 1100)", 1200},
		{"transformNull(rumd.total.lcp.p50,-1)", "transformNull(rumd.total.lcp.p50,-1)", -1},
	} {
		name, v := last(t, tc.target)
		if name != tc.name || v == nil || math.Abs(*v-tc.want) > sketch.RelativeAccuracy*math.Abs(tc.want)+1e-9 {
			t.Errorf("%s: %q last %v, want %q %v", tc.target, name, fmtPtr(v), tc.name, tc.want)
		}
	}
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"currentAbove(rumd.total.lcp.p50,1000)", 1},
		{"currentAbove(rumd.total.lcp.p50,5000)", 0},
		{"currentBelow(rumd.total.lcp.p50,5000)", 1},
		{"currentBelow(rumd.total.lcp.p50,1000)", 0},
		{"maximumAbove(rumd.total.lcp.p100,3900)", 1},
		{"maximumAbove(rumd.total.lcp.p100,4100)", 0},
	} {
		if got := count(t, tc.target); got != tc.want {
			t.Errorf("%s: %d series, want %d", tc.target, got, tc.want)
		}
	}
}

// TestRenderParameterErrors checks that bad graph parameters and function arguments are
// a 400 with a reason, and that a good one next to each is answered.
func TestRenderParameterErrors(t *testing.T) {
	e := knownEnv(t)
	good := "target=rumd.total.lcp.p50&from=-6min"
	if code, ctype, body := e.fetch(t, good); code != 200 || ctype != "image/png" {
		t.Fatalf("control: %d %q %.200s", code, ctype, body)
	}
	for _, q := range []string{
		"format=gif", "width=0", "width=NaN", "width=100000", "height=abc", "width=4000&height=4000",
		"bgcolor=chartreuse-ish", "colorList=red,%23zzzzzz", "yMin=5&yMax=1", "yMax=NaN",
		"lineWidth=-1", "hideLegend=maybe", "areaMode=stacked", "areaMode=sideways", "tz=Mars/Olympus",
		"format=raw&tz=nowhere",
	} {
		code, _, body := e.fetch(t, good+"&"+q)
		var got map[string]string
		if code != 400 || json.Unmarshal(body, &got) != nil || got["reason"] == "" || got["error"] == "" {
			t.Errorf("%s: %d %.200s", q, code, body)
		}
	}
	for _, target := range []string{
		"keepLastValue(rumd.total.lcp.p50,-1)", "threshold('x')", "threshold(1,'a','nocolour')",
		"movingAverage(rumd.total.lcp.p50,0)", "movingAverage(rumd.total.lcp.p50,'soon')",
		"movingWindow(rumd.total.lcp.p50,3,'sum')", "movingWindow(rumd.total.lcp.count,3,'mode')",
		"movingAverage(scale(rumd.total.lcp.p50,2),3)", "scale(rumd.total.lcp.p50)",
		"currentAbove(rumd.total.lcp.p50,'x')",
	} {
		code, _, body := e.fetch(t, "format=json&from=-6min&target="+url.QueryEscape(target))
		var got map[string]string
		if code != 400 || json.Unmarshal(body, &got) != nil || got["reason"] == "" {
			t.Errorf("%s: %d %.200s", target, code, body)
		}
	}
	// Stacking adds counts, which is allowed.
	if code, _, body := e.fetch(t, "target=rumd.country.*.lcp.count&areaMode=stacked&from=-6min"); code != 200 {
		t.Errorf("stacked counts: %d %.200s", code, body)
	}
}

// TestCSVGuardsFormulaNames checks that a series name a spreadsheet would run (an alias, or
// a page label from outside) is written with a leading quote, as the JSON API's CSV does.
func TestCSVGuardsFormulaNames(t *testing.T) {
	e := knownEnv(t)
	for _, name := range []string{"+cmd|' /C calc'!A0", "=HYPERLINK(1)", "-1+1", "@SUM(A1)"} {
		q := "target=alias(rumd.total.lcp.p50," + url.QueryEscape(`"`+strings.ReplaceAll(name, `"`, `\"`)+`"`) + ")&format=csv&from=-6min"
		code, _, body := e.fetch(t, q)
		if code != 200 {
			t.Fatalf("%s: status %d: %s", name, code, body)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(rows) == 0 {
			t.Fatalf("%s: csv %v: %s", name, err, body)
		}
		for _, r := range rows {
			if r[0] != "'"+name {
				t.Fatalf("name cell %q, want %q", r[0], "'"+name)
			}
		}
	}
}
