package aggregator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"

	"github.com/prometheus/client_golang/prometheus"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time { return time.Unix(c.t.Load(), 0) }
func (c *clock) set(t int64)    { c.t.Store(t) }
func newClock(t int64) *clock   { c := &clock{}; c.set(t); return c }
func mustStore(tb testing.TB) *storage.DB {
	tb.Helper()
	db, err := storage.Open(tb.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func mustOpen(tb testing.TB, st Store, c *clock, mod func(*Options)) *Aggregator {
	tb.Helper()
	o := DefaultOptions()
	o.Now = c.now
	o.Tick = time.Hour // tests flush by hand
	if mod != nil {
		mod(&o)
	}
	a, err := Open(nil, nil, st, o)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func rec(t int64, page, country string, ttfb float64) series.Record {
	r := series.Record{Time: t}
	r.Labels[series.Page] = page
	r.Labels[series.Country] = country
	r.Labels[series.Device] = "desktop"
	r.Labels[series.Nav] = "navigate"
	r.Labels[series.Variant] = "none"
	r.Set(series.TTFB, ttfb)
	return r
}

// counts sums, per series key, the ttfb counts of a view in memory and in storage, the way
// a query does.
func counts(t *testing.T, a *Aggregator, st *storage.DB, view series.View, from, to int64) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	memFrom := a.Collect(view.Mask, series.TTFB, from, to, func(_ int64, l *series.Labels, c *sketch.Counts) {
		out[string(series.AppendKey(nil, view, l))] += float64(c.Count())
	})
	err := st.Scan(storage.Minute, view.Mask, series.TTFB, from, min(to, memFrom), func(_ int64, key, v []byte) error {
		s, err := sketch.Decode(v)
		out[string(key)] += s.GetCount()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitApplied waits until the workers have added n records in all.
func waitApplied(t *testing.T, a *Aggregator, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); a.Applied() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("workers applied %d of %d records", a.Applied(), n)
		}
	}
}

func TestMemoryThenStorageCountsOnce(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	a := mustOpen(t, st, c, nil)
	pageView := series.NewView(series.Page)
	for m := int64(0); m < 5; m++ {
		for i := 0; i < 100; i++ {
			r := rec(base+m*60+int64(i%60), fmt.Sprintf("/p%d", i%3), "DE", float64(100+i))
			if err := a.Add(&r); err != nil {
				t.Fatal(err)
			}
		}
		waitApplied(t, a, 100*(m+1))
		// Before and after the window closes the count is the same: memory, then storage.
		got := counts(t, a, st, pageView, base, base+3600)
		if got["/p0\x1f"] != float64(34*(m+1)) {
			t.Fatalf("minute %d before flush: /p0 count %v", m, got["/p0\x1f"])
		}
		c.set(base + (m+1)*60 + 3)
		if err := a.flush(floor(c.now().Add(-2*time.Second).Unix(), 60)); err != nil {
			t.Fatal(err)
		}
		got = counts(t, a, st, pageView, base, base+3600)
		if got["/p0\x1f"] != float64(34*(m+1)) || got["/p1\x1f"] != float64(33*(m+1)) {
			t.Fatalf("minute %d after flush: %v", m, got)
		}
	}
	if st.Flushed() != base+5*60 {
		t.Fatalf("storage flushed until %d", st.Flushed()-base)
	}
	// A late record for a closed window lands in the oldest open one, never in storage's past.
	late := rec(base+30, "/p0", "DE", 1)
	a.Add(&late)
	waitApplied(t, a, 501)
	if got := counts(t, a, st, pageView, base, base+3600)["/p0\x1f"]; got != 34*5+1 {
		t.Fatalf("late record lost or doubled: %v", got)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(&late); err != ErrClosed {
		t.Fatalf("Add after Close = %v", err)
	}
}

func TestCloseFlushesOpenWindowAndRestartDoesNotRewrite(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base + 10)
	st := mustStore(t)
	a := mustOpen(t, st, c, nil)
	for i := 0; i < 1000; i++ {
		r := rec(base+10, "/", "US", 50)
		if err := a.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Restart within the same minute: new records go to the next minute.
	a = mustOpen(t, st, c, nil)
	r := rec(base+20, "/", "US", 50)
	a.Add(&r)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := series.NewView()
	got := counts(t, a, st, total, base, base+3600)
	if got[""] != 1001 {
		t.Fatalf("after two clean shutdowns: count %v, want 1001", got[""])
	}
}

func TestCardinalityCap(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	a := mustOpen(t, st, c, func(o *Options) { o.Caps[series.Page] = 50; o.Shards = 2 })
	defer a.Close(context.Background())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				r := rec(base, fmt.Sprintf("/u/%d-%d", g, i), "DE", 10)
				for a.Add(&r) == ErrQueueFull {
					time.Sleep(time.Millisecond)
				}
			}
		}(g)
	}
	wg.Wait()
	waitApplied(t, a, 20000)
	got := counts(t, a, st, series.NewView(series.Page), base, base+60)
	if len(got) > 51 {
		t.Fatalf("%d pages in the window, cap is 50 (+1 for %s)", len(got), series.Other)
	}
	var n float64
	for _, c := range got {
		n += c
	}
	if n != 20000 || got[series.Other+"\x1f"] < 20000-50 {
		t.Fatalf("total %v, other %v", n, got[series.Other+"\x1f"])
	}
}

func TestQueueFullSheds(t *testing.T) {
	c := newClock(1763683200)
	st := mustStore(t)
	a := mustOpen(t, st, c, func(o *Options) { o.QueueSize = 8; o.Shards = 1 })
	a.shards[0].mu.Lock() // a stalled worker
	var shed int
	for i := 0; i < 100; i++ {
		r := rec(1763683200, "/", "DE", 10)
		if a.Add(&r) == ErrQueueFull {
			shed++
		}
	}
	a.shards[0].mu.Unlock()
	if shed < 100-8-1 {
		t.Fatalf("only %d of 100 shed with a queue of 8 and a stalled worker", shed)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkApply(b *testing.B) {
	c := newClock(1763683200)
	st := mustStore(b)
	a := mustOpen(b, st, c, nil)
	defer a.Close(context.Background())
	recs := benchRecords()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Apply(&recs[i%len(recs)])
	}
}

// BenchmarkApplyScaling shows how one beacon's cost grows with the number of views and with
// cardinality: records spread over 1, 101 or 2001 pages × 10 countries in one window.
func BenchmarkApplyScaling(b *testing.B) {
	all := series.DefaultViews()
	var pageViews []series.View
	for _, v := range all {
		if !v.ForProbes() {
			pageViews = append(pageViews, v)
		}
	}
	for _, nViews := range []int{1, 3, 6, len(pageViews)} {
		for _, pages := range []int{1, 101, 2001} {
			b.Run(fmt.Sprintf("views=%d/pages=%d", nViews, pages), func(b *testing.B) {
				c := newClock(1763683200)
				st := mustStore(b)
				a := mustOpen(b, st, c, func(o *Options) {
					o.Views = pageViews[:nViews]
					o.Caps[series.Page] = pages
				})
				defer a.Close(context.Background())
				recs := make([]series.Record, 8192)
				for i := range recs {
					r := rec(1763683200, fmt.Sprintf("/p%d", i%pages), fmt.Sprintf("C%d", i/pages%10), float64(100+i))
					for m := series.Metric(0); m < series.Metric(series.NumPageMetrics); m++ {
						r.Set(m, float64(50+i*7+int(m)*30))
					}
					recs[i] = r
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					a.Apply(&recs[i%len(recs)])
				}
			})
		}
	}
}

// TestMemoryPerLiveSketch: docs/design.md §7 budgets 2 KiB per live sketch on average. Records
// with realistic timings spread over 2,000 pages × 20 countries fill one window; the heap
// it takes, over the number of live sketches, must stay under the budget.
func TestMemoryPerLiveSketch(t *testing.T) {
	c := newClock(1763683200)
	st := mustStore(t)
	reg := prometheus.NewRegistry()
	o := DefaultOptions()
	o.Now, o.Tick = c.now, time.Hour
	o.SeriesCap = 40000 // every one of the 40,000 [page, country] series is its own
	a, err := Open(nil, reg, st, o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	r := rand.New(rand.NewPCG(4, 2))
	recs := make([]series.Record, 200000)
	for i := range recs {
		rc := rec(1763683200, fmt.Sprintf("/p%d", r.IntN(2000)), fmt.Sprintf("C%d", r.IntN(20)), 0)
		for m := series.Metric(0); m < series.Metric(series.NumPageMetrics); m++ {
			rc.Set(m, math.Exp(r.NormFloat64()*0.8+5+float64(m)*0.2))
		}
		recs[i] = rc
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range recs {
		a.Apply(&recs[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := testutilGauge(t, reg, "rumd_aggregator_live_sketches")
	per := float64(after.HeapInuse-before.HeapInuse) / live
	t.Logf("%.0f live sketches, %.0f bytes each on average", live, per)
	if live < 100000 || per > 2048 {
		t.Fatalf("%.0f live sketches at %.0f bytes each; budget 2048", live, per)
	}
	runtime.KeepAlive(recs)
}

func testutilGauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

// flakyStore is the real store behind a fault: its first writes fail, as a full disk would.
type flakyStore struct {
	*storage.DB
	fails int
}

func (f *flakyStore) WriteWindow(w *storage.Window) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("disk full")
	}
	return f.DB.WriteWindow(w)
}

// TestFailedWritesKeepWindowsInMemory: a window whose write fails stays pending (and
// queryable), is counted by PendingWindows, and is written whole by a later flush.
func TestFailedWritesKeepWindowsInMemory(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	db := mustStore(t)
	fs := &flakyStore{DB: db, fails: 2}
	a := mustOpen(t, fs, c, nil)
	defer a.Close(context.Background())
	for m := int64(0); m < 2; m++ {
		for i := 0; i < 50; i++ {
			r := rec(base+m*60+1, "/", "DE", 100)
			if err := a.Add(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitApplied(t, a, 100)
	c.set(base + 125)
	if err := a.flush(base + 120); err == nil {
		t.Fatal("first flush should report the failed write")
	}
	if n := a.PendingWindows(); n != 2 {
		t.Fatalf("pending windows %d, want 2", n)
	}
	if got := counts(t, a, db, series.NewView(), base, base+3600)[""]; got != 100 {
		t.Fatalf("while writes fail, queries see %v of 100", got)
	}
	a.flush(base + 120) // fails once more
	if err := a.flush(base + 120); err != nil {
		t.Fatal(err)
	}
	if n := a.PendingWindows(); n != 0 || db.Flushed() != base+120 {
		t.Fatalf("after recovery: %d pending, flushed until %d", n, db.Flushed()-base)
	}
	if got := counts(t, a, db, series.NewView(), base, base+3600)[""]; got != 100 {
		t.Fatalf("after recovery, count %v of 100", got)
	}
}

// TestQueuedRecordOwnsItsProbes: a record that waits in the queue (every shard busy) keeps
// the probe values it had when Add returned, though the caller reuses its probe array.
func TestQueuedRecordOwnsItsProbes(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base + 5)
	st := mustStore(t)
	a := mustOpen(t, st, c, nil)
	for _, sh := range a.shards {
		sh.mu.Lock()
	}
	r := rec(base+1, "/a", "DE", 100)
	r.Probes = []series.ProbeValues{{Name: "cdn"}}
	r.Probes[0].Set(series.ProbeTotal, 42)
	if err := a.Add(&r); err != nil {
		t.Fatal(err)
	}
	r.Probes[0].Set(series.ProbeTotal, 4000) // the caller's next beacon
	for _, sh := range a.shards {
		sh.mu.Unlock()
	}
	waitApplied(t, a, 1)
	var got []float64
	a.Collect(series.MaskOf(series.Probe), series.ProbeTotal, base, base+60, func(_ int64, _ *series.Labels, c *sketch.Counts) {
		got = append(got, sketch.Quantile(c.Sketch(), 0.5))
	})
	if len(got) != 1 || math.Abs(got[0]-42) > 42*sketch.RelativeAccuracy {
		t.Fatalf("queued probe total: %v, want about 42", got)
	}
}

// TestKeptLabelsDoNotShareTheCallersMemory: label values that are views of a buffer the
// caller reuses (as a beacon's strings are views of its request body) are copied when the
// aggregator keeps them, on the direct path and on the queue's.
func TestKeptLabelsDoNotShareTheCallersMemory(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base + 5)
	a := mustOpen(t, mustStore(t), c, nil)
	buf := []byte("/direct/queued/cdn-a")
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	add := func(page, probe string) {
		r := rec(base+1, page, "DE", 100)
		r.Probes = []series.ProbeValues{{Name: probe}}
		r.Probes[0].Set(series.ProbeTotal, 42)
		if err := a.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	add(view(0, 7), view(15, 20)) // a free shard: added in this goroutine
	for _, sh := range a.shards {
		sh.mu.Lock()
	}
	add(view(7, 14), view(15, 20))    // every shard busy: queued
	copy(buf, "XXXXXXXXXXXXXXXXXXXX") // the caller's next request
	for _, sh := range a.shards {
		sh.mu.Unlock()
	}
	waitApplied(t, a, 2)
	if got := fmt.Sprint(a.LabelValues(series.Page)); got != "[/direct /queued]" {
		t.Fatalf("pages kept: %s", got)
	}
	if got := fmt.Sprint(a.LabelValues(series.Probe)); got != "[cdn-a]" {
		t.Fatalf("probes kept: %s", got)
	}
	var pages []string
	a.Collect(series.MaskOf(series.Page), series.TTFB, base, base+60, func(_ int64, l *series.Labels, _ *sketch.Counts) {
		pages = append(pages, l[series.Page])
	})
	sort.Strings(pages)
	if fmt.Sprint(pages) != "[/direct /queued]" {
		t.Fatalf("pages collected: %v", pages)
	}
}
