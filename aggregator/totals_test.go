package aggregator

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

func withTotals(views []series.View, idle time.Duration, maxSeries int) func(*Options) {
	return func(o *Options) {
		o.Totals.Views = nil
		for _, v := range views {
			o.Totals.Views = append(o.Totals.Views, v.Mask)
		}
		o.Totals.IdleAfter, o.Totals.MaxSeries = idle, maxSeries
	}
}

// totalCounts reads EachTotal as ttfb count and sum per view and series key.
func totalCounts(a *Aggregator) (map[string]uint64, map[string]float64) {
	n, sum := map[string]uint64{}, map[string]float64{}
	a.EachTotal(func(v series.View, m series.Metric, l *series.Labels, t *sketch.Total, _ int64) {
		if m != series.TTFB {
			return
		}
		k := v.String() + "|" + string(series.AppendKey(nil, v, l))
		n[k] += t.Count()
		sum[k] += t.Sum()
	})
	return n, sum
}

// TestTotalsOnlyGrow: the cumulative counts hold the open window and every closed one,
// exactly once, before, during and after the hand-over of a window to storage.
func TestTotalsOnlyGrow(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	total, country := series.NewView(), series.NewView(series.Country)
	a := mustOpen(t, st, c, withTotals([]series.View{total, country}, time.Hour, 1000))
	defer a.Close(context.Background())
	want := map[string]uint64{}
	wantSum := 0.0
	check := func(stage string) {
		t.Helper()
		n, sum := totalCounts(a)
		for k, w := range want {
			if n[k] != w {
				t.Fatalf("%s: %q counts %d, want %d (all: %v)", stage, k, n[k], w, n)
			}
		}
		if len(n) != len(want) {
			t.Fatalf("%s: series %v, want %v", stage, n, want)
		}
		if got := sum["total|"]; got != wantSum {
			t.Fatalf("%s: sum %v, want %v", stage, got, wantSum)
		}
	}
	for minute := int64(0); minute < 3; minute++ {
		c.set(base + minute*60 + 5)
		for i := 0; i < 100; i++ {
			cc := []string{"DE", "US"}[i%2]
			r := rec(base+minute*60+5, "/", cc, float64(10+i))
			a.Apply(&r)
			want["total|"]++
			want["country|"+cc+"\x1f"]++
			wantSum += float64(10 + i)
		}
		check(fmt.Sprintf("minute %d open", minute))
		if err := a.flush(base + (minute+1)*60); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("minute %d stored", minute))
	}
	// A view that is not exposed keeps nothing: the positive control is the country view above.
	var pages int
	a.EachTotal(func(v series.View, _ series.Metric, _ *series.Labels, _ *sketch.Total, _ int64) {
		if v.Mask.Has(series.Page) {
			pages++
		}
	})
	if pages != 0 {
		t.Fatalf("%d series of an unexposed view", pages)
	}
}

// TestTotalsSprayStaysBounded sprays 20 minutes of page values that never come back, 1500
// new ones a minute: with a 3-minute idle time the exposed series stay at a few windows'
// worth and the heap stays flat, while a page seen every minute keeps its whole count. The
// same spray with a 1-hour idle time, the control, keeps every series.
func TestTotalsSprayStaysBounded(t *testing.T) {
	const minutes, perMinute = 20, 1500 // under the window's page cap of 2000
	series3m, heap := spray(t, 3*time.Minute, minutes, perMinute)
	t.Logf("idle 3m: %d page series live; heap %d KiB after 10 minutes, %d KiB after %d", series3m, heap[0]>>10, heap[1]>>10, minutes)
	// At most the windows inside the idle time (3 + the one just closed) keep their pages.
	if series3m > 4*perMinute+1 {
		t.Fatalf("%d page series after the spray, want ≤ %d", series3m, 4*perMinute+1)
	}
	if heap[1] > heap[0]+8<<20 {
		t.Fatalf("heap grew from %d to %d bytes while the series count stayed bounded", heap[0], heap[1])
	}
	series1h, heap1h := spray(t, time.Hour, minutes, perMinute)
	t.Logf("idle 1h: %d page series live; heap %d KiB after 10 minutes, %d KiB after %d", series1h, heap1h[0]>>10, heap1h[1]>>10, minutes)
	if series1h != minutes*perMinute+1 {
		t.Fatalf("control: %d page series, want %d", series1h, minutes*perMinute+1)
	}
}

func spray(t *testing.T, idle time.Duration, minutes, perMinute int64) (pageSeries int, heap [2]uint64) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	page := series.NewView(series.Page)
	a := mustOpen(t, st, c, withTotals([]series.View{series.NewView(), page}, idle, 100000))
	defer a.Close(context.Background())
	for minute := int64(0); minute < minutes; minute++ {
		now := base + minute*60 + 1
		c.set(now)
		for i := int64(0); i < perMinute; i++ {
			r := rec(now, fmt.Sprintf("/spray/%d/%d", minute, i), "DE", float64(100+i))
			a.Apply(&r)
		}
		steady := rec(now, "/steady", "DE", 50)
		a.Apply(&steady)
		if err := a.flush(now - 1 + 60); err != nil {
			t.Fatal(err)
		}
		if minute == minutes/2-1 || minute == minutes-1 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap[minute*2/minutes] = ms.HeapInuse
		}
	}
	n, _ := totalCounts(a)
	for k := range n {
		if k[:5] == "page|" {
			pageSeries++
		}
	}
	if got := n["page|/steady\x1f"]; got != uint64(minutes) {
		t.Fatalf("steady page counts %d, want %d", got, minutes)
	}
	if got := n["total|"]; got != uint64(minutes*(perMinute+1)) {
		t.Fatalf("total counts %d, want %d", got, minutes*(perMinute+1))
	}
	return pageSeries, heap
}

// TestTotalsSeriesCap: past MaxSeries, new series are counted in the view's __other__
// series, and nothing is lost.
func TestTotalsSeriesCap(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	page := series.NewView(series.Page)
	a := mustOpen(t, st, c, withTotals([]series.View{page}, time.Hour, 10))
	defer a.Close(context.Background())
	for minute := int64(0); minute < 2; minute++ {
		c.set(base + minute*60 + 1)
		for i := 0; i < 30; i++ {
			r := rec(base+minute*60+1, fmt.Sprintf("/p%d", i), "DE", 100)
			a.Apply(&r)
		}
		n, _ := totalCounts(a)
		if len(n) != 10 || n["page|"+series.Other+"\x1f"] != uint64(21*(minute+1)) {
			t.Fatalf("minute %d: %d series, __other__ %d: %v", minute, len(n), n["page|"+series.Other+"\x1f"], n)
		}
		if err := a.flush(base + (minute+1)*60); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkApplyWithTotals is the per-beacon cost of the aggregator with and without every
// default view exposed, window closes included: a window closes every 20000 records (as if
// 333 beacons/s), is folded into the totals and written to Badger. Apply itself does the
// same work either way; the difference is the fold, spread over the window's records.
func BenchmarkApplyWithTotals(b *testing.B) {
	for _, exposed := range []bool{false, true} {
		b.Run(fmt.Sprintf("exposed=%v", exposed), func(b *testing.B) {
			base := int64(1763683200)
			c := newClock(base)
			st := mustStore(b)
			mod := func(*Options) {}
			if exposed {
				mod = withTotals(series.DefaultViews(), time.Hour, 20000)
			}
			a := mustOpen(b, st, c, mod)
			defer a.Close(context.Background())
			recs := benchRecords()
			b.ReportAllocs()
			b.ResetTimer()
			minute := int64(0)
			for i := 0; i < b.N; i++ {
				if i > 0 && i%20000 == 0 {
					minute++
					if err := a.flush(base + minute*60); err != nil {
						b.Fatal(err)
					}
				}
				r := &recs[i%len(recs)]
				r.Time = base + minute*60
				a.Apply(r)
			}
		})
	}
}

// BenchmarkEachTotal is one scrape's read of the totals: 60 pages × 3 countries, every page
// metric, one closed window folded and one open.
func BenchmarkEachTotal(b *testing.B) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(b)
	a := mustOpen(b, st, c, withTotals(series.DefaultViews(), time.Hour, 20000))
	defer a.Close(context.Background())
	recs := benchRecords()
	for minute := int64(0); minute < 2; minute++ {
		for i := 0; i < 3000; i++ {
			r := recs[i%len(recs)]
			r.Time = base + minute*60 + 1
			r.Labels[series.Page] = fmt.Sprintf("/p%d", i%60)
			a.Apply(&r)
		}
		if minute == 0 {
			if err := a.flush(base + 60); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		a.EachTotal(func(series.View, series.Metric, *series.Labels, *sketch.Total, int64) { n++ })
	}
}

func benchRecords() []series.Record {
	recs := make([]series.Record, 64)
	for i := range recs {
		r := rec(1763683200, fmt.Sprintf("/p%d", i%20), []string{"DE", "US", "FR"}[i%3], float64(100+i))
		for m := series.Metric(0); m < series.Metric(series.NumPageMetrics); m++ {
			r.Set(m, float64(50+i*7+int(m)*30))
		}
		recs[i] = r
	}
	return recs
}

// TestTotalsGrowUnderConcurrentIngest: while records arrive from several goroutines and the
// flush loop hands windows over, every read of the totals is at least the one before, and
// the last read counts every record once.
func TestTotalsGrowUnderConcurrentIngest(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(t)
	a := mustOpen(t, st, c, func(o *Options) {
		withTotals([]series.View{series.NewView(), series.NewView(series.Country)}, time.Hour, 1000)(o)
		o.Tick, o.Grace = time.Millisecond, 0
	})
	defer a.Close(context.Background())
	const writers, each = 4, 20000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if i%2000 == 0 && w == 0 {
					c.set(c.t.Load() + 60) // a new minute: the flush loop closes the last one
				}
				r := rec(c.t.Load(), "/", []string{"DE", "US", "FR"}[i%3], float64(10+i%300))
				for a.Add(&r) != nil {
					time.Sleep(time.Millisecond)
				}
			}
		}(w)
	}
	go func() { wg.Wait(); close(done) }()
	var last uint64
	reads := 0
	check := func() uint64 {
		n, _ := totalCounts(a)
		if n["total|"] < last {
			t.Fatalf("total went from %d to %d", last, n["total|"])
		}
		var byCountry uint64
		for k, v := range n {
			if k != "total|" {
				byCountry += v
			}
		}
		if byCountry != n["total|"] {
			t.Fatalf("countries sum to %d, total %d", byCountry, n["total|"])
		}
		last, reads = n["total|"], reads+1
		return last
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case <-done:
			waitApplied(t, a, writers*each)
			if got := check(); got != writers*each {
				t.Fatalf("total %d, want %d", got, writers*each)
			}
			t.Logf("%d reads while ingesting", reads)
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("writers did not finish within 20 s (last total %d)", last)
		}
		check()
	}
}
