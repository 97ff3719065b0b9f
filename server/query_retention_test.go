package server

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/storage"
)

// TestSeriesOlderThanMinuteRetention writes page views through the aggregator on a
// simulated clock, moves the clock 25 days on so that storage rolls them into hours and
// days and drops their minutes, and asks the JSON API for them: the answer comes from the
// rollups, at a step the stored resolution can fill.
func TestSeriesOlderThanMinuteRetention(t *testing.T) {
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC).Unix()
	var clock atomic.Int64
	clock.Store(t0)
	ts := startServerAgg(t, nil, func(o *aggregator.Options) {
		o.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
		o.Tick = 5 * time.Millisecond
	})
	// 90 page views, one every 2 minutes over 3 hours, TTFB 100..189 ms.
	for i := 0; i < 90; i++ {
		rec := series.Record{Time: t0 + int64(i)*120}
		rec.Labels[series.Page], rec.Labels[series.Country] = "/", "DE"
		rec.Set(series.TTFB, float64(100+i))
		mustAdd(t, ts.agg, &rec)
	}
	mustApplied(t, ts.agg, 90)

	// Control: while the minutes are kept, a fine step over the data reads them.
	clock.Store(t0 + 4*3600)
	mustFlushed(t, ts.db, t0+89*120+60)
	var fine seriesBody
	if code := ts.get(t, fmt.Sprintf("/api/v1/series?metric=ttfb&from=%d&to=%d&step=60", t0, t0+3*3600), &fine); code != 200 || fine.count() != 90 || fine.Step != 60 {
		t.Fatalf("minutes while kept: %d step %d count %v", code, fine.Step, fine.count())
	}

	// 25 days later one more page view closes a window, which rolls up every hour and day
	// before it and drops the minute partitions older than the minute retention.
	later := t0 + 25*86400
	clock.Store(later)
	rec := series.Record{Time: later}
	rec.Labels[series.Page], rec.Labels[series.Country] = "/", "DE"
	rec.Set(series.TTFB, 1)
	mustAdd(t, ts.agg, &rec)
	mustApplied(t, ts.agg, 91)
	clock.Store(later + 120)
	mustFlushed(t, ts.db, later+60)
	// The window is flushed before the rollups and retention run: wait for them.
	for deadline := time.Now().Add(20 * time.Second); scanCount(t, ts.db, storage.Minute, t0, t0+86400) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("minute sketches of the old day still stored after 20 s: %d", scanCount(t, ts.db, storage.Minute, t0, t0+86400))
		}
	}
	if n := scanCount(t, ts.db, storage.Hour, t0, t0+86400); n == 0 {
		t.Fatal("no hour rollups of the old day")
	}

	var old seriesBody
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-30d&to=-20d&q=0.5", &old); code != 200 {
		t.Fatalf("series: %d", code)
	}
	if old.count() != 90 || old.Step%3600 != 0 {
		t.Fatalf("-30d..-20d: step %d, count %v, want 90 page views at an hour step or coarser", old.Step, old.count())
	}
	for _, p := range old.Series[0].Points {
		if p.T%old.Step != 0 {
			t.Fatalf("point at %d is not on the %d s grid", p.T, old.Step)
		}
	}
	// An asked step finer than what is kept is widened to the kept resolution.
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-30d&to=-20d&step=60", &old); code != 200 || old.count() != 90 || old.Step != 3600 {
		t.Fatalf("step=60 on hour data: %d step %d count %v", code, old.Step, old.count())
	}
	var sum struct{ Rows []struct{ Count float64 } }
	if code := ts.get(t, "/api/v1/summary?metric=ttfb&from=-30d&to=-20d", &sum); code != 200 || len(sum.Rows) != 1 || sum.Rows[0].Count != 90 {
		t.Fatalf("summary: %d %+v", code, sum)
	}
}

type seriesBody struct {
	Step   int64
	Series []struct {
		Points []struct {
			T     int64
			Count float64
		}
	}
}

func (s *seriesBody) count() float64 {
	var n float64
	for _, g := range s.Series {
		for _, p := range g.Points {
			n += p.Count
		}
	}
	return n
}

func mustAdd(t *testing.T, agg *aggregator.Aggregator, rec *series.Record) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); agg.Add(rec) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("aggregator queue stayed full for 5 s")
		}
	}
}

func mustApplied(t *testing.T, agg *aggregator.Aggregator, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); agg.Applied() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("aggregator applied %d of %d records in 5 s", agg.Applied(), n)
		}
	}
}

func mustFlushed(t *testing.T, db *storage.DB, until int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); db.Flushed() < until; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("storage flushed until %d, want %d, after 20 s", db.Flushed(), until)
		}
	}
}

func scanCount(t *testing.T, db *storage.DB, r storage.Res, from, to int64) int {
	t.Helper()
	v, _ := series.Choose(series.DefaultViews(), series.TTFB, 0)
	n := 0
	if err := db.Scan(r, v.Mask, series.TTFB, from, to, func(int64, []byte, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
