package graphite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/gofiber/fiber/v2"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/query"
	"rumd/storage"
)

// env is a live rumd query stack: Badger in a temp dir, the aggregator holding the current
// minute, the query engine, and the Graphite API served over real HTTP on 127.0.0.1.
type env struct {
	now   time.Time
	store *storage.DB
	agg   *aggregator.Aggregator
	eng   *query.Engine
	h     *handler
	base  string // http://127.0.0.1:port
	recs  []series.Record
}

// mustEnv seeds stored minutes with past records (those before now's minute, written as
// closed windows in time order) and the live aggregator with the rest, then serves.
func mustEnv(tb testing.TB, now time.Time, recs []series.Record) *env {
	return mustEnvViews(tb, now, recs, series.DefaultViews())
}

// mustEnvViews is mustEnv with the given views materialised.
func mustEnvViews(tb testing.TB, now time.Time, recs []series.Record, views []series.View) *env {
	tb.Helper()
	store, err := storage.Open(tb.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	cur := floorTo(now.Unix(), 60)
	sorted := append([]series.Record(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time < sorted[j].Time })
	var past, live []series.Record
	for _, r := range sorted {
		if r.Time < cur {
			past = append(past, r)
		} else {
			live = append(live, r)
		}
	}
	mustWriteWindows(tb, store, views, past)

	opts := aggregator.DefaultOptions()
	opts.Views = views
	opts.Now = func() time.Time { return now }
	opts.Tick = time.Hour // windows stay in memory: the live path is what is tested
	agg, err := aggregator.Open(nil, nil, store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range live {
		for agg.Add(&live[i]) != nil {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for agg.Applied() < int64(len(live)) {
		if time.Now().After(deadline) {
			tb.Fatalf("aggregator applied %d of %d records", agg.Applied(), len(live))
		}
		time.Sleep(time.Millisecond)
	}
	qo := query.DefaultOptions()
	qo.Views = views
	eng, err := query.New(nil, nil, store, agg, qo)
	if err != nil {
		tb.Fatal(err)
	}

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	gopts := DefaultOptions()
	gopts.Now = func() time.Time { return now }
	if err := Mount(app, eng, gopts); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go app.Listener(ln)
	tb.Cleanup(func() {
		app.Shutdown()
		agg.Close(context.Background())
		store.Close(context.Background())
	})
	return &env{now: now, store: store, agg: agg, eng: eng, h: &handler{eng: eng, opts: gopts},
		base: "http://" + ln.Addr().String(), recs: recs}
}

// mustWriteWindows writes records as closed 1-minute windows, one sketch per (view, metric,
// series), the way the aggregator flushes them.
func mustWriteWindows(tb testing.TB, store *storage.DB, views []series.View, recs []series.Record) {
	tb.Helper()
	for i := 0; i < len(recs); {
		start := floorTo(recs[i].Time, 60)
		j := i
		for j < len(recs) && floorTo(recs[j].Time, 60) == start {
			j++
		}
		type k struct {
			view series.Mask
			m    series.Metric
			key  string
		}
		sk := map[k]*ddsketch.DDSketch{}
		add := func(v series.View, l *series.Labels, m series.Metric, x float64) {
			key := k{v.Mask, m, string(series.AppendKey(nil, v, l))}
			s := sk[key]
			if s == nil {
				s = sketch.New()
				sk[key] = s
			}
			s.Add(x)
		}
		w := &storage.Window{Start: start}
		seen := map[string]bool{}
		note := func(d series.Dim, v string) {
			if !seen[d.String()+"\x00"+v] {
				seen[d.String()+"\x00"+v] = true
				w.Values[d] = append(w.Values[d], v)
			}
		}
		for _, r := range recs[i:j] {
			for d := series.Page; d < series.Probe; d++ {
				note(d, r.Labels[d])
			}
			for _, v := range views {
				if v.ForProbes() {
					continue
				}
				for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
					if r.Has&(1<<m) != 0 {
						add(v, &r.Labels, m, r.Values[m])
					}
				}
			}
			for _, p := range r.Probes {
				l := r.Labels
				l[series.Probe] = p.Name
				note(series.Probe, p.Name)
				for _, v := range views {
					if !v.ForProbes() {
						continue
					}
					for m := 0; m < series.NumProbeMetrics; m++ {
						if p.Has&(1<<m) != 0 {
							add(v, &l, series.ProbeDNS+series.Metric(m), p.Values[m])
						}
					}
				}
			}
		}
		for key, s := range sk {
			w.Entries = append(w.Entries, storage.Entry{View: key.view, Metric: key.m, Series: []byte(key.key), Sketch: s})
		}
		if err := store.WriteWindow(w); err != nil {
			tb.Fatal(err)
		}
		i = j
	}
}

var (
	seedPages     = []string{"/", "/questions/:id", "/blog/:id.html", "/search"}
	seedCountries = []string{"DE", "US", "BR", "XX"}
	seedDevices   = []string{"mobile", "desktop", "tablet"}
	seedNavs      = []string{"navigate", "reload", "back_forward", "bfcache"}
	seedVariants  = []string{"cdn-a", "cdn-b"}
)

// seedRecords makes n page views per listed minute offset (seconds before now), with
// log-normal timings whose exact quantiles the tests compute from the records themselves.
func seedRecords(now time.Time, offsets []int64, n int, seed uint64) []series.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []series.Record
	for _, off := range offsets {
		t0 := floorTo(now.Unix()-off, 60)
		for i := 0; i < n; i++ {
			r := series.Record{Time: t0 + int64(rng.IntN(60))}
			if off == 0 {
				r.Time = now.Unix()
			}
			r.Labels[series.Page] = seedPages[rng.IntN(len(seedPages))]
			r.Labels[series.Country] = seedCountries[rng.IntN(len(seedCountries))]
			r.Labels[series.Device] = seedDevices[rng.IntN(len(seedDevices))]
			r.Labels[series.Nav] = seedNavs[rng.IntN(len(seedNavs))]
			r.Labels[series.Variant] = seedVariants[rng.IntN(len(seedVariants))]
			ln := func(median, sigma float64) float64 {
				return math.Round(median*math.Exp(sigma*rng.NormFloat64())*10) / 10
			}
			ttfb := ln(300, 0.6)
			r.Set(series.DNS, ln(20, 0.8))
			r.Set(series.Connect, ln(40, 0.6))
			r.Set(series.TLS, ln(50, 0.5))
			r.Set(series.TTFB, ttfb)
			r.Set(series.Download, ln(30, 0.7))
			r.Set(series.DOMInteractive, ttfb+ln(400, 0.5))
			r.Set(series.DCL, ttfb+ln(450, 0.5))
			r.Set(series.Load, ttfb+ln(900, 0.6))
			r.Set(series.FCP, ttfb+ln(500, 0.5))
			r.Set(series.LCP, ttfb+ln(1200, 0.6))
			if rng.IntN(4) != 0 {
				r.Set(series.INP, ln(120, 0.8))
			}
			r.Set(series.CLS, math.Round(rng.ExpFloat64()*0.08*1000)/1000)
			if rng.IntN(3) == 0 {
				p := series.ProbeValues{Name: seedVariants[rng.IntN(2)]}
				p.Set(series.ProbeTTFB, ln(80, 0.5))
				p.Set(series.ProbeTotal, ln(90, 0.5))
				r.Probes = append(r.Probes, p)
			}
			out = append(out, r)
		}
	}
	return out
}

// exactQuantile is the nearest-rank quantile of vals, the definition rumd reads sketches with.
func exactQuantile(vals []float64, q float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	return sketch.ExactQuantile(s, q)
}

// values lists the records' values of metric m in [from, to) whose labels match the given
// dimension values (dimension name → raw value).
func (e *env) values(m series.Metric, from, to int64, match map[string]string) []float64 {
	var out []float64
	for _, r := range e.recs {
		if r.Time < from || r.Time >= to {
			continue
		}
		ok := true
		for k, v := range match {
			d, _ := series.ParseDim(k)
			if d != series.Probe && !matchTag(v, r.Labels[d]) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if m.IsProbe() {
			for _, p := range r.Probes {
				if pv, has := match["probe"]; has && !matchTag(pv, p.Name) {
					continue
				}
				if p.Has&(1<<(m-series.ProbeDNS)) != 0 {
					out = append(out, p.Values[m-series.ProbeDNS])
				}
			}
			continue
		}
		if r.Has&(1<<m) != 0 {
			out = append(out, r.Values[m])
		}
	}
	return out
}

// matchTag matches a raw value against a series' tag: the value itself, or the pattern of a
// mergeSeries filter such as {DE,US}, matched against the value's path encoding.
func matchTag(tag, raw string) bool {
	if !hasWildcard(tag) {
		return tag == raw
	}
	g, err := compileGlob(tag)
	return err == nil && g.match(EncodeNode(raw))
}

// renderSeries is one series of a /render answer as Grafana reads it.
type renderSeries struct {
	Target     string            `json:"target"`
	Step       int64             `json:"step"`
	Tags       map[string]string `json:"tags"`
	Datapoints [][2]*float64     `json:"datapoints"`
}

// post sends a form POST as Grafana's backend does and decodes the JSON answer into out.
func (e *env) post(tb testing.TB, path string, form url.Values, out any) int {
	tb.Helper()
	resp, err := http.Post(e.base+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, resp, out)
}

func (e *env) get(tb testing.TB, path string, q url.Values, out any) int {
	tb.Helper()
	resp, err := http.Get(e.base + path + "?" + q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, resp, out)
}

func decode(tb testing.TB, resp *http.Response, out any) int {
	tb.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			tb.Fatalf("decode %s: %v\n%s", resp.Request.URL, err, body)
		}
	}
	return resp.StatusCode
}

// checkSeries checks every point of a render answer against the seeded records: counts
// exactly, percentiles within sketch.RelativeAccuracy (plus the 7-digit rounding of the
// answer). Series carry their metric, statistic and dimension values as tags, and their
// step; a timeShift tag moves the window read.
func (e *env) checkSeries(t *testing.T, what string, list []renderSeries) (points int) {
	t.Helper()
	for _, s := range list {
		if s.Tags["compare"] != "" {
			continue // a comparePercentiles answer: checkCompare checks it against its sides
		}
		metricName := s.Tags["metric"]
		if metricName == "" {
			metricName = s.Tags["name"]
		}
		m, ok := series.ParseMetric(metricName)
		if !ok {
			if _, err := parseStat(s.Tags["stat"]); err == nil {
				t.Errorf("%s: series %q has a statistic but no metric tag: %v", what, s.Target, s.Tags)
			}
			continue
		}
		st, err := parseStat(s.Tags["stat"])
		if err != nil {
			t.Errorf("%s: series %q: %v", what, s.Target, err)
			continue
		}
		match := map[string]string{}
		for _, d := range series.DimNames() {
			if v, ok := s.Tags[d]; ok {
				match[d] = v
			}
		}
		var shift int64
		if ts := s.Tags["timeShift"]; ts != "" {
			d, err := query.ParseShift(ts)
			if err != nil {
				t.Fatal(err)
			}
			shift = int64(d / time.Second)
		}
		step := s.Step
		if len(s.Datapoints) > 1 && int64(*s.Datapoints[1][1]-*s.Datapoints[0][1]) != step {
			t.Errorf("%s: %q says step %d, its points are %v s apart", what, s.Target, step, *s.Datapoints[1][1]-*s.Datapoints[0][1])
		}
		for _, p := range s.Datapoints {
			if p[1] == nil {
				t.Fatalf("%s: %q has a point without a time", what, s.Target)
			}
			ts := int64(*p[1]) + shift
			vals := e.values(m, ts, ts+step, match)
			if p[0] == nil {
				if len(vals) > 0 && !st.count {
					t.Errorf("%s: %q at %d is null but %d values were seeded", what, s.Target, ts, len(vals))
				}
				continue
			}
			got := *p[0]
			if st.count {
				if got != float64(len(vals)) {
					t.Errorf("%s: %q at %d: count %v, seeded %d", what, s.Target, ts, got, len(vals))
				}
				if got > 0 {
					points++
				}
				continue
			}
			if len(vals) == 0 {
				t.Errorf("%s: %q at %d = %v but nothing was seeded there", what, s.Target, ts, got)
				continue
			}
			want := exactQuantile(vals, st.q)
			if rel := math.Abs(got-want) / want; rel > sketch.RelativeAccuracy+1e-6 || math.IsNaN(rel) && got != want {
				t.Errorf("%s: %q at %d: %s = %v, exact %v (relative error %.4f > %.4f)", what, s.Target, ts, st.name, got, want, rel, sketch.RelativeAccuracy)
			}
			points++
		}
	}
	return points
}

// httpGet returns the body of a GET answered 200.
func httpGet(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}
