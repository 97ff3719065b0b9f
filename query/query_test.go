package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

type stack struct {
	now   atomic.Int64
	store *storage.DB
	agg   *aggregator.Aggregator
	eng   *Engine
	added int64
	last  int64 // start of the newest window with data
}

func newStack(t testing.TB, start int64) *stack {
	t.Helper()
	s := &stack{}
	s.now.Store(start)
	db, err := storage.Open(t.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	o := aggregator.DefaultOptions()
	o.Now = func() time.Time { return time.Unix(s.now.Load(), 0) }
	o.Tick = 5 * time.Millisecond
	agg, err := aggregator.Open(nil, nil, db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agg.Close(context.Background())
		db.Close(context.Background())
	})
	qo := DefaultOptions()
	qo.Views = o.Views
	eng, err := New(nil, nil, db, agg, qo)
	if err != nil {
		t.Fatal(err)
	}
	s.store, s.agg, s.eng = db, agg, eng
	return s
}

func (s *stack) add(t testing.TB, at int64, page, country string, m series.Metric, v float64) {
	r := series.Record{Time: at}
	r.Labels[series.Page], r.Labels[series.Country] = page, country
	r.Labels[series.Device], r.Labels[series.Nav], r.Labels[series.Variant] = "desktop", "navigate", "none"
	r.Set(m, v)
	for s.agg.Add(&r) != nil {
		time.Sleep(time.Millisecond)
	}
	s.added++
	s.last = max(s.last, at/60*60)
}

// advance moves the clock to `to` plus the aggregator's grace and waits until every window
// with data before `to` is in storage.
func (s *stack) advance(t testing.TB, to int64) {
	t.Helper()
	s.sync(t)
	s.now.Store(to + 2)
	want := min(to/60*60, s.last+60)
	for deadline := time.Now().Add(10 * time.Second); s.store.Flushed() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("storage flushed until %d, want %d", s.store.Flushed(), want)
		}
	}
	// The aggregator lets go of a window just after storage marks it written; until then a
	// query reads it from memory, which tests of how storage is read must not see.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if w, _, _ := s.agg.Held(); w == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("written windows still held by the aggregator")
		}
	}
}

// sync waits until the aggregator has applied every record added.
func (s *stack) sync(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.agg.Applied() < s.added; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("records not applied")
		}
	}
}

const base = int64(1763683200) // 2025-11-21 00:00 UTC

// TestPercentilesAreMergedNotAveraged: window A holds 1000 × 100 ms, window B 10 × 1000 ms;
// the p75 over both is ~100 ms, where averaging the windows' p75s would say 550.
func TestPercentilesAreMergedNotAveraged(t *testing.T) {
	s := newStack(t, base)
	for i := 0; i < 1000; i++ {
		s.add(t, base+5, "/", "DE", series.TTFB, 100)
	}
	s.advance(t, base+60)
	for i := 0; i < 10; i++ {
		s.add(t, base+65, "/", "DE", series.TTFB, 1000)
	}
	s.sync(t)
	for _, flushed := range []bool{false, true} {
		if flushed {
			s.advance(t, base+180) // both windows now come from storage
		}
		res, err := s.eng.Query(context.Background(), Request{Metric: series.TTFB, From: base, To: base + 120})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Groups) != 1 || len(res.Groups[0].Points) != 1 {
			t.Fatalf("flushed=%v: %d groups", flushed, len(res.Groups))
		}
		sk := res.Groups[0].Points[0].Sketch
		p75 := sketch.Quantile(sk, 0.75)
		if sk.GetCount() != 1010 || math.Abs(p75-100)/100 > sketch.RelativeAccuracy {
			t.Fatalf("flushed=%v: count %v p75 %v, want 1010 and ~100", flushed, sk.GetCount(), p75)
		}
		// Per-minute steps keep the windows apart.
		res, err = s.eng.Query(context.Background(), Request{Metric: series.TTFB, From: base, To: base + 120, Step: 60})
		if err != nil {
			t.Fatal(err)
		}
		pts := res.Groups[0].Points
		if len(pts) != 2 || pts[0].T != base || pts[1].T != base+60 || pts[1].Sketch.GetCount() != 10 {
			t.Fatalf("flushed=%v: per-minute points %+v", flushed, pts)
		}
	}
}

func exactQuantile(sorted []float64, q float64) float64 { return sketch.ExactQuantile(sorted, q) }

// TestRollupsAnswerLongRanges writes three days of data, each minute from storage, and
// checks day and hour steps against exact quantiles, per group, and that filters pick
// the smallest covering view.
func TestRollupsAnswerLongRanges(t *testing.T) {
	s := newStack(t, base)
	r := rand.New(rand.NewPCG(1, 2))
	exact := map[string][]float64{}
	for m := int64(0); m < 3*1440; m += 7 {
		at := base + m*60
		s.now.Store(at)
		for i := 0; i < 5; i++ {
			country := []string{"DE", "US"}[i%2]
			v := math.Exp(r.NormFloat64()*0.7 + 6)
			s.add(t, at, fmt.Sprintf("/p%d", i%3), country, series.LCP, v)
			day := fmt.Sprint((at - base) / 86400)
			exact[day+"/"+country] = append(exact[day+"/"+country], v)
			exact[day] = append(exact[day], v)
		}
		if m%60 == 0 {
			s.advance(t, at+60)
		}
	}
	s.advance(t, base+3*86400+120)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		// Rollups run right after the window write that completes them.
		h, d := s.store.Rolled()
		if d == base+3*86400 && h == base+3*86400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rolled to hour %d day %d", h-base, d-base)
		}
	}
	for _, step := range []int64{86400, 3600, 600} {
		res, err := s.eng.Query(context.Background(), Request{Metric: series.LCP, From: base, To: base + 3*86400, Step: step,
			Match: [series.NumDims]func(string) bool{series.Country: Equal("US")}, By: []series.Dim{series.Country}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.View.Names()) != "[country]" || len(res.Groups) != 1 || res.Groups[0].Labels[series.Country] != "US" {
			t.Fatalf("step %d: view %v groups %d", step, res.View.Names(), len(res.Groups))
		}
		// Merge the points of each day and compare with the exact day quantiles.
		for day := int64(0); day < 3; day++ {
			m := sketch.New()
			for _, p := range res.Groups[0].Points {
				if (p.T-base)/86400 == day {
					m.MergeWith(p.Sketch)
				}
			}
			vals := exact[fmt.Sprint(day)+"/US"]
			sort.Float64s(vals)
			if m.GetCount() != float64(len(vals)) {
				t.Fatalf("step %d day %d: count %v, want %d", step, day, m.GetCount(), len(vals))
			}
			for _, q := range []float64{0.5, 0.75, 0.95, 0.99} {
				want, got := exactQuantile(vals, q), sketch.Quantile(m, q)
				if math.Abs(got-want)/want > 0.011 {
					t.Errorf("step %d day %d q%v: got %v exact %v", step, day, q, got, want)
				}
			}
		}
	}
	// No view holds [page, variant]: a clear error naming the views.
	_, err := s.eng.Query(context.Background(), Request{Metric: series.LCP, From: base, To: base + 60,
		By: []series.Dim{series.Page, series.Variant}})
	var nv *NoViewError
	if !errors.As(err, &nv) {
		t.Fatalf("want NoViewError, got %v", err)
	}
	t.Log(err)
}

func TestPlanUsesCoarsestWholeResolution(t *testing.T) {
	day, hour := int64(86400), int64(3600)
	// 30 days at 1-day steps, all rolled: one day segment.
	segs := plan(base, base+30*day, base, day, base+30*day, base+30*day)
	if len(segs) != 1 || segs[0].res != storage.Day {
		t.Fatalf("30 days rolled: %+v", segs)
	}
	// Day rollups up to day 29, hours up to 29d+5h, then minutes.
	segs = plan(base, base+30*day, base, day, base+29*day+5*hour, base+29*day)
	want := []segment{{storage.Day, base, base + 29*day}, {storage.Hour, base + 29*day, base + 29*day + 5*hour}, {storage.Minute, base + 29*day + 5*hour, base + 30*day}}
	if fmt.Sprint(segs) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", segs, want)
	}
	// A range that starts mid-hour reads minutes up to the first whole hour.
	segs = plan(base+90*60, base+5*hour, base, hour, base+10*hour, base)
	if segs[0].res != storage.Minute || segs[0].to != base+2*hour || segs[1].res != storage.Hour {
		t.Fatalf("mid-hour start: %+v", segs)
	}
}
