package loadtest

import (
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/ingest/enrich"
	"rumd/internal/series"
)

func mustPool(tb testing.TB, n int, bad float64, now time.Time) *Pool {
	tb.Helper()
	p, err := BuildPool(n, bad, nil, 42, now)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// lastRecord is an ingest sink that keeps the last record it was given.
type lastRecord struct{ rec series.Record }

func (l *lastRecord) Add(rec *series.Record) error { l.rec = *rec; return nil }

// poolPipeline is rumd's ingest pipeline as a server with the load tool's GeoIP file and
// trusting 127.0.0.1 runs it, with a sink that keeps the last record.
func poolPipeline(t *testing.T) (*ingest.Pipeline, *lastRecord) {
	t.Helper()
	geo := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := WriteGeoIP(geo, "geoip2-country"); err != nil {
		t.Fatal(err)
	}
	opts := enrich.DefaultOptions()
	opts.GeoIPPath = geo
	opts.TrustedProxies = []string{"127.0.0.1/32"}
	e, err := enrich.New(nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	sink := &lastRecord{}
	pipe, err := ingest.New(nil, nil, e, sink, ingest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return pipe, sink
}

// checkPool runs every item of a pool of 6000 with 20% bad through run, which gives rumd's
// reason for the item ("ok" when accepted, its record then in sink) and the refusal's
// detail, and checks that each item got the reason it was made for, that accepted ones carry
// exactly the labels and values the load tool expects, and that the bad ones are spread
// evenly over every reason.
func checkPool(t *testing.T, pool *Pool, sink *lastRecord, run func(i int, it *Item) (reason, detail string)) {
	t.Helper()
	got := map[string]int{}
	for i := range pool.Items {
		it := &pool.Items[i]
		reason, detail := "too_large", ""
		if len(it.Body) <= maxBody {
			reason, detail = run(i, it)
		}
		want := it.Reason
		if want == "" {
			want = "ok"
		}
		switch {
		case reason != want:
			t.Errorf("item %d: meant %s, got %s: %s\n%s", i, want, reason, detail, it.Body)
		case reason == "ok":
			checkRecord(t, i, &sink.rec, it)
		}
		got[reason]++
		if t.Failed() && i > 50 {
			t.FailNow()
		}
	}
	// 20% bad over 10 reasons: 120 each.
	for _, r := range BadReasons {
		if got[r] != 120 {
			t.Errorf("%s: %d beacons, want 120", r, got[r])
		}
	}
	if got["ok"] != 4800 {
		t.Errorf("good: %d beacons, want 4800", got["ok"])
	}
}

// TestPoolAgainstServer feeds every pre-encoded beacon through rumd's own ingest pipeline,
// as the server does: good beacons must be accepted with exactly the labels and values the
// load tool will compare against, and each bad one must be rejected for the reason it was
// made for.
func TestPoolAgainstServer(t *testing.T) {
	now := time.Now()
	pool := mustPool(t, 6000, 0.2, now)
	pipe, sink := poolPipeline(t)
	peer := netip.MustParseAddr("127.0.0.1")
	recv := now.Add(3 * time.Second)
	var res ingest.Result
	checkPool(t, pool, sink, func(i int, it *Item) (string, string) {
		cl := pipe.Client(&ingest.Request{Peer: peer, ForwardedFor: it.IP, UserAgent: it.UA})
		pipe.Body(it.Body, &cl, recv, &res)
		if len(res.Refused) > 0 {
			return res.Refused[0].Reason.String(), res.Refused[0].Detail
		}
		return "ok", ""
	})
}

// checkRecord compares what rumd recorded of pool item i with what the load tool expects.
func checkRecord(t *testing.T, i int, rec *series.Record, it *Item) {
	t.Helper()
	for m := range series.NumPageMetrics {
		gotHas, wantHas := rec.Has&(1<<m) != 0, it.Has&(1<<m) != 0
		if gotHas != wantHas || rec.Values[m] != it.Values[m] {
			t.Errorf("item %d %s: rumd derives %v (%v), load tool expects %v (%v)\n%s",
				i, series.Metric(m), rec.Values[m], gotHas, it.Values[m], wantHas, it.Body)
		}
	}
	want := [...]string{series.Page: it.Page, series.Country: it.Country, series.Device: it.Device, series.Nav: it.Nav, series.Variant: it.Variant}
	for d, w := range want {
		if rec.Labels[d] != w {
			t.Errorf("item %d: %s is %q, load tool expects %q (%s)", i, series.Dim(d), rec.Labels[d], w, it.Body)
		}
	}
}

func TestPoolIsDeterministic(t *testing.T) {
	now := time.UnixMilli(1763683200123)
	a, b := mustPool(t, 500, 0.1, now), mustPool(t, 500, 0.1, now)
	for i := range a.Items {
		if string(a.Items[i].Body) != string(b.Items[i].Body) || a.Items[i].IP != b.Items[i].IP {
			t.Fatalf("item %d differs between two pools of the same seed", i)
		}
	}
	c, err := BuildPool(500, 0.1, nil, 43, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Items[0].Body) == string(a.Items[0].Body) {
		t.Error("another seed gave the same first beacon")
	}
}

func TestBadShareAndReasons(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		share   float64
		reasons []string
		want    map[string]int
	}{
		{"none", 1000, 0, nil, map[string]int{"": 1000}},
		{"all bad", 30, 1, []string{"bot", "negative", "clock_skew"}, map[string]int{"bot": 10, "negative": 10, "clock_skew": 10}},
		{"five percent of two", 1000, 0.05, []string{"too_large", "malformed"}, map[string]int{"": 950, "too_large": 25, "malformed": 25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := BuildPool(tc.n, tc.share, tc.reasons, 1, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, it := range p.Items {
				got[it.Reason]++
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%q: %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
	if _, err := BuildPool(10, 0.5, []string{"sunspots"}, 1, time.Now()); err == nil {
		t.Error("an unknown reason was accepted")
	}
}

// TestPopulationShape checks that the synthetic traffic looks like real traffic: medians
// near those of the web at large, a heavy right tail, a Zipf page popularity with a long
// tail of raw URLs, and the country and device mix by weight.
func TestPopulationShape(t *testing.T) {
	pool := mustPool(t, 20000, 0, time.Now())
	vals := make([][]float64, series.NumPageMetrics)
	urls := map[string]int{}
	countries := map[string]int{}
	devices := map[string]int{}
	for _, it := range pool.Items {
		for m := range series.NumPageMetrics {
			if it.Has&(1<<m) != 0 {
				vals[m] = append(vals[m], it.Values[m])
			}
		}
		bs, _, err := beacon.Decode(it.Body, nil)
		if err != nil {
			t.Fatal(err)
		}
		urls[bs[0].URL]++
		countries[it.Country]++
		devices[it.Device]++
	}
	median := func(m series.Metric) float64 {
		xs := slices.Clone(vals[m])
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	for _, tc := range []struct {
		m      series.Metric
		lo, hi float64
	}{
		{series.TTFB, 200, 450}, {series.LCP, 1300, 2600}, {series.FCP, 800, 1800}, {series.DNS, 8, 40},
		{series.INP, 100, 350}, {series.CLS, 0.02, 0.1}, {series.Load, 1000, 3500},
	} {
		if med := median(tc.m); med < tc.lo || med > tc.hi {
			t.Errorf("median %s = %g, want in [%g, %g]", tc.m, med, tc.lo, tc.hi)
		}
	}
	xs := slices.Clone(vals[series.LCP])
	sort.Float64s(xs)
	if p99, p50 := xs[len(xs)*99/100], xs[len(xs)/2]; p99 < 3*p50 {
		t.Errorf("lcp p99 %g is not a heavy tail over p50 %g", p99, p50)
	}
	if n := len(vals[series.INP]); n < 12000 || n > 16000 {
		t.Errorf("%d of 20000 beacons have INP, want about 70%%", n)
	}
	// Zipf: the hottest URL is seen far more often than the median one, and most URLs are
	// seen once or twice.
	counts := make([]int, 0, len(urls))
	once := 0
	for _, c := range urls {
		counts = append(counts, c)
		if c <= 2 {
			once++
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	if len(urls) < 3000 || counts[0] < 50*counts[len(counts)/2] || once < len(urls)/2 {
		t.Errorf("url popularity is not Zipf-like: %d urls, top %d, median %d, %d seen ≤ 2 times",
			len(urls), counts[0], counts[len(counts)/2], once)
	}
	total := 0.0
	for _, c := range Countries {
		total += c.Weight
	}
	for _, c := range Countries {
		want := 20000 * c.Weight / total
		if got := float64(countries[c.Code]); math.Abs(got-want) > 5*math.Sqrt(want)+5 {
			t.Errorf("country %s: %g beacons, want about %.0f", c.Code, got, want)
		}
	}
	if devices["mobile"] < devices["desktop"] || devices["tablet"] == 0 {
		t.Errorf("device mix %v: want mobile > desktop > 0 tablets", devices)
	}
}

func TestPutIDIsUniqueAndValid(t *testing.T) {
	seen := map[string]bool{}
	buf := make([]byte, idLen)
	for _, seq := range []uint64{0, 1, 63, 64, 4095, 1 << 40, math.MaxUint64} {
		for _, run := range []uint32{0, 7} {
			putID(buf, run, seq)
			s := string(buf)
			if seen[s] {
				t.Errorf("id %s repeats", s)
			}
			seen[s] = true
			for _, c := range buf {
				if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					t.Errorf("id %s has %q, outside docs/design.md §2's alphabet", s, c)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		ok   bool
	}{
		{"defaults", func(*Options) {}, true},
		{"localhost", func(o *Options) { o.Target = "http://localhost:9" }, true},
		{"remote target", func(o *Options) { o.Target = "http://192.0.2.1:8080" }, false},
		{"remote baseline", func(o *Options) { o.Baseline = "http://10.0.0.1:80" }, false},
		{"https", func(o *Options) { o.Target = "https://127.0.0.1:8443" }, false},
		{"unbounded count", func(o *Options) { o.Count = 0 }, false},
		{"unbounded time", func(o *Options) { o.Duration = 0 }, false},
		{"negative rate", func(o *Options) { o.Rate = -1 }, false},
		{"no connections", func(o *Options) { o.Connections = 0 }, false},
		{"bad share", func(o *Options) { o.BadShare = 1.5 }, false},
		{"unknown reason", func(o *Options) { o.Reasons = []string{"cosmic_rays"} }, false},
		{"quantile", func(o *Options) { o.Quantiles = []float64{1.5} }, false},
		{"only geoip", func(o *Options) { o.Target, o.WriteGeoIP, o.Count = "", "x.mmdb", 0 }, true},
		{"nothing", func(o *Options) { o.Target = "" }, false},
		{"baseline word", func(o *Options) { o.Baseline = "bare" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mod(&o)
			if err := o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
