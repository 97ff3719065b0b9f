package promexp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

func mustAggregator(t *testing.T, now time.Time, views ...series.View) *aggregator.Aggregator {
	t.Helper()
	db, err := storage.Open(t.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	o := aggregator.DefaultOptions()
	o.Now, o.Tick = func() time.Time { return now }, time.Hour
	for _, v := range views {
		o.Totals.Views = append(o.Totals.Views, v.Mask)
	}
	a, err := aggregator.Open(nil, nil, db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

func record(at time.Time, country string, ttfb float64) *series.Record {
	r := &series.Record{Time: at.Unix()}
	r.Labels = series.Labels{"/", country, "desktop", "navigate", "none", ""}
	r.Set(series.TTFB, ttfb)
	return r
}

func gather(t *testing.T, reg prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if mf.GetType() != dto.MetricType_HISTOGRAM {
				t.Fatalf("%s is a %v", name, mf.GetType())
			}
			return mf.GetMetric()
		}
	}
	t.Fatalf("no family %s", name)
	return nil
}

// buckets expands a native histogram's spans and deltas to index → count.
func buckets(h *dto.Histogram) map[int]int64 {
	out := map[int]int64{}
	i, n := 0, int64(0)
	d := 0
	for _, s := range h.GetPositiveSpan() {
		i += int(s.GetOffset())
		for j := uint32(0); j < s.GetLength(); j++ {
			n += h.GetPositiveDelta()[d]
			d++
			if n != 0 {
				out[i] = n
			}
			i++
		}
	}
	return out
}

// TestBucketsAreClientGolangs: the exposed histogram has the very buckets, zero count, count
// and sum that client_golang's own schema-5 native histogram gives the same values, and
// known values land where Prometheus' convention puts them: bucket i holds
// (2^((i-1)/32), 2^(i/32)], so 1 is in bucket 0, just above 1 in bucket 1, 2 in 32.
func TestBucketsAreClientGolangs(t *testing.T) {
	now := time.Unix(1763683200, 0)
	total := series.NewView()
	a := mustAggregator(t, now, total)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ref", Help: "reference",
		NativeHistogramBucketFactor:  1.022, // picks schema 5 (factor 2^(1/32) ≈ 1.0219)
		NativeHistogramZeroThreshold: ZeroThreshold,
	})
	known := map[float64]int{1: 0, 1.01: 1, 2: 32, 0.5: -32, 1000: 319, 980.5: 318, 980.7: 319, 1.0218: 1, 1.0219: 2}
	vals := []float64{0, 0}
	for v := range known {
		vals = append(vals, v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		vals = append(vals, math.Round(math.Exp(r.NormFloat64()*0.9+5.5)*10)/10)
	}
	for _, v := range vals {
		a.Apply(record(now, "DE", v))
		ref.Observe(v)
	}
	reg := NewRegistry(NewCollector(a, aggregator.DefaultOptions().Views))
	ms := gather(t, reg, "rumd_ttfb_milliseconds")
	if len(ms) != 1 {
		t.Fatalf("%d series, want 1", len(ms))
	}
	got := ms[0].GetHistogram()
	var want dto.Metric
	if err := ref.Write(&want); err != nil {
		t.Fatal(err)
	}
	w := want.GetHistogram()
	if got.GetSchema() != 5 || w.GetSchema() != 5 {
		t.Fatalf("schema %d, client_golang's %d", got.GetSchema(), w.GetSchema())
	}
	if got.GetSampleCount() != uint64(len(vals)) || got.GetSampleCount() != w.GetSampleCount() ||
		got.GetZeroCount() != 2 || got.GetZeroCount() != w.GetZeroCount() ||
		math.Abs(got.GetSampleSum()-w.GetSampleSum()) > 1e-9*w.GetSampleSum() || got.GetZeroThreshold() != w.GetZeroThreshold() {
		t.Fatalf("count %d sum %v zero %d/%v; client_golang: count %d sum %v zero %d/%v", got.GetSampleCount(), got.GetSampleSum(), got.GetZeroCount(), got.GetZeroThreshold(),
			w.GetSampleCount(), w.GetSampleSum(), w.GetZeroCount(), w.GetZeroThreshold())
	}
	gb, wb := buckets(got), buckets(w)
	if len(gb) != len(wb) {
		t.Fatalf("%d buckets, client_golang %d", len(gb), len(wb))
	}
	for i, n := range wb {
		if gb[i] != n {
			t.Fatalf("bucket %d: %d, client_golang %d", i, gb[i], n)
		}
	}
	// Known values, alone in a fresh aggregator so each bucket's count is known.
	b := mustAggregator(t, now, total)
	for v := range known {
		b.Apply(record(now, "DE", v))
	}
	kb := buckets(gather(t, NewRegistry(NewCollector(b, aggregator.DefaultOptions().Views)), "rumd_ttfb_milliseconds")[0].GetHistogram())
	wantKnown := map[int]int64{}
	for _, i := range known {
		wantKnown[i]++
	}
	for i, n := range wantKnown {
		if kb[i] != n {
			t.Errorf("bucket %d holds %d, want %d (all: %v)", i, kb[i], n, kb)
		}
	}
}

// TestLabelsPerView: each view's series carry its dimensions and view, nothing else.
func TestLabelsPerView(t *testing.T) {
	now := time.Unix(1763683200, 0)
	pc := series.NewView(series.Page, series.Country)
	a := mustAggregator(t, now, series.NewView(), series.NewView(series.Country), pc)
	a.Apply(record(now, "DE", 10))
	a.Apply(record(now, "US", 20))
	ms := gather(t, NewRegistry(NewCollector(a, aggregator.DefaultOptions().Views)), "rumd_ttfb_milliseconds")
	var got []string
	for _, m := range ms {
		s := ""
		for _, lp := range m.GetLabel() {
			s += lp.GetName() + "=" + lp.GetValue() + " "
		}
		got = append(got, s)
	}
	sort.Strings(got)
	want := []string{
		"country=DE page=/ view=page,country ", "country=DE view=country ",
		"country=US page=/ view=page,country ", "country=US view=country ", "view=total ",
	}
	if len(got) != len(want) {
		t.Fatalf("series %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("series %q, want %q", got, want)
		}
	}
}

// TestSecondsWouldAddError measures why the families are in milliseconds: a value is known
// only to its millisecond bucket, and dividing by 1000 (not a power of 2) puts that
// bucket's bounds across two second buckets, so re-bucketing must guess. Over a log-normal
// TTFB sample the quantile error of the millisecond buckets is the sketch's own (≤ 1.08%);
// re-bucketed to seconds both its worst and its mean grow.
func TestSecondsWouldAddError(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var c sketch.Counts
	vals := make([]float64, 200000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*0.8 + 6)
		c.Add(vals[i])
	}
	sort.Float64s(vals)
	var tot sketch.Total
	tot.AddCounts(&c)
	ms := map[int]uint64{} // rumd index → count
	sec := map[int]uint64{}
	tot.Each(func(i int, n uint64) {
		ms[i] += n
		// The best guess without the values: the bucket's midpoint, in seconds.
		mid := sketch.Mapping.Value(i) / 1000
		sec[sketch.Mapping.Index(mid)] += n
	})
	worst := func(b map[int]uint64, scale float64) (w, mean float64) {
		var idx []int
		for i := range b {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		for q := 0.01; q < 0.995; q += 0.01 {
			// Nearest rank k (1-based), as sketch.Quantile reads it.
			k, seen := uint64(sketch.Rank(q, float64(len(vals)))), uint64(0)
			for _, i := range idx {
				if seen += b[i]; seen >= k {
					est := sketch.Mapping.Value(i) * scale
					exact := vals[k-1]
					e := math.Abs(est-exact) / exact
					w, mean = max(w, e), mean+e/99
					break
				}
			}
		}
		return w, mean
	}
	wms, mms := worst(ms, 1)
	wsec, msec := worst(sec, 1000)
	t.Logf("quantile error over p1..p99, worst and mean: milliseconds %.3f%% %.3f%%, re-bucketed to seconds %.3f%% %.3f%%", wms*100, mms*100, wsec*100, msec*100)
	if wms > sketch.RelativeAccuracy+1e-12 {
		t.Fatalf("millisecond buckets err %.3f%%, more than the sketch's %.3f%%", wms*100, sketch.RelativeAccuracy*100)
	}
	if wsec <= wms || msec <= mms {
		t.Fatalf("seconds re-bucketing err %.3f%% vs %.3f%%: the milliseconds choice would need revisiting", wsec*100, wms*100)
	}
}

// BenchmarkGather is one scrape of /metrics/rum's registry: 500 pages × 3 countries, every
// page metric, the default exposed views (total and each single dimension), one window
// folded and one open.
func BenchmarkGather(b *testing.B) {
	now := time.Unix(1763683200, 0)
	db, err := storage.Open(b.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	o := aggregator.DefaultOptions()
	clock := now
	o.Now, o.Tick = func() time.Time { return clock }, time.Hour
	for _, v := range o.Views {
		if v.Mask.Len() <= 1 {
			o.Totals.Views = append(o.Totals.Views, v.Mask)
		}
	}
	a, err := aggregator.Open(nil, nil, db, o)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	r := rand.New(rand.NewPCG(3, 4))
	for minute := 0; minute < 2; minute++ {
		at := now.Add(time.Duration(minute) * time.Minute)
		for i := 0; i < 30000; i++ {
			rec := &series.Record{Time: at.Unix()}
			rec.Labels = series.Labels{fmt.Sprintf("/p%d", i%500), []string{"DE", "US", "JP"}[i%3], "desktop", "navigate", "none", ""}
			for m := series.Metric(0); m < series.Metric(series.NumPageMetrics); m++ {
				rec.Set(m, math.Exp(r.NormFloat64()*0.9+5+float64(m)*0.1))
			}
			a.Apply(rec)
		}
		if minute == 0 {
			clock = now.Add(time.Minute + 3*time.Second) // the first window closes on Close's flush below
		}
	}
	reg := NewRegistry(NewCollector(a, o.Views))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
	}
	b.ReportMetric(float64(n), "histograms")
}
