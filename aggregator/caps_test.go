package aggregator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/internal/testutil"
	"rumd/storage"
)

// TestCapsCoverEveryDimension caps each dimension in turn at two values per window and
// sends five: the first two are kept and the rest become series.Other. In the rumd_extra
// build this covers a dimension after Probe too.
func TestCapsCoverEveryDimension(t *testing.T) {
	base := int64(1763683200)
	for d := series.Dim(0); d < series.NumDims; d++ {
		t.Run(d.String(), func(t *testing.T) {
			st := mustStore(t)
			view := series.NewView(d)
			a := mustOpen(t, st, newClock(base), func(o *Options) {
				o.Views = []series.View{view}
				o.Caps[d] = 2
				o.Shards = 1
			})
			metric := series.TTFB
			if d == series.Probe {
				metric = series.ProbeTTFB
			}
			for i := 0; i < 5; i++ {
				r := series.Record{Time: base}
				val := fmt.Sprintf("v%d", i)
				if d == series.Probe {
					p := series.ProbeValues{Name: val}
					p.Set(metric, 10)
					r.Probes = append(r.Probes, p)
				} else {
					r.Labels[d] = val
					r.Set(metric, 10)
				}
				a.Apply(&r)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			err := st.Scan(storage.Minute, view.Mask, metric, base, base+60, func(_ int64, key, v []byte) error {
				var l series.Labels
				if err := series.ParseKey(view, key, &l); err != nil {
					return err
				}
				s, err := sketch.Decode(v)
				got[l[d]] += uint64(s.GetCount())
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range got {
				names = append(names, k)
			}
			sort.Strings(names)
			if fmt.Sprint(names) != fmt.Sprint([]string{series.Other, "v0", "v1"}) || got["v0"] != 1 || got["v1"] != 1 || got[series.Other] != 3 {
				t.Fatalf("stored %v, want v0 and v1 once each and the other 3 as %s", got, series.Other)
			}
		})
	}
}

func TestDefaultCapsBoundEveryDimension(t *testing.T) {
	caps := DefaultCaps()
	for d := series.Dim(0); d < series.NumDims; d++ {
		if caps[d] < 1 {
			t.Errorf("dimension %s has no default cap", d)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSeriesCapBoundsASpray sprays one window with 20,000 records of random pages ×
// countries × variants (2,000 × 676 × 200 combinations, every value within its dimension's
// cap) from four goroutines over two shards. Every view, fed or merged from a fed one, holds
// at most its series cap plus the overflow series, in each shard piece, in the open window
// and in storage; the overflow series counts exactly the records rumd_series_capped_total
// counted for the view; and no record is lost: every view counts all 20,000.
func TestSeriesCapBoundsASpray(t *testing.T) {
	const records, seriesCap = 20000, 1000
	base := int64(1763683200)
	st := mustStore(t)
	reg := prometheus.NewRegistry()
	o := DefaultOptions()
	o.Now, o.Tick, o.Shards = newClock(base).now, time.Hour, 2
	o.Caps[series.Page], o.Caps[series.Country], o.Caps[series.Variant] = 2000, 676, 200
	o.SeriesCap = seriesCap
	pageView, countryVariant := series.NewView(series.Page), series.NewView(series.Variant, series.Country)
	// [page] would be merged from [page, country] (cap 1000) but must hold only 100: fed.
	// [variant] is merged from [country, variant], held to 50.
	o.SeriesCaps = map[series.Mask]int{pageView.Mask: 100, countryVariant.Mask: 50}
	a, err := Open(nil, reg, st, o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for vi, v := range o.Views {
		if v.Mask == pageView.Mask && a.parent[vi] >= 0 {
			t.Fatalf("[page] is merged from %s, whose 1000 series would not fit its cap of 100", o.Views[a.parent[vi]])
		}
	}

	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 21))
			for i := 0; i < records/4; i++ {
				rc := rec(base+int64(i%60), fmt.Sprintf("/p%d", r.IntN(2000)), fmt.Sprintf("%c%c", 'A'+r.IntN(26), 'A'+r.IntN(26)), float64(1+r.IntN(5000)))
				rc.Labels[series.Variant] = fmt.Sprintf("v%d", r.IntN(200))
				rc.Labels[series.Device] = []string{"desktop", "mobile", "tablet"}[r.IntN(3)]
				for a.Add(&rc) == ErrQueueFull && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
		}(g)
	}
	wg.Wait()
	waitApplied(t, a, records)

	limit := func(v series.View) int { return int(bound(o, v)) + 1 } // + the overflow series
	// Each shard piece of a fed view: what memory holds.
	for _, sh := range a.shards {
		sh.mu.Lock()
		for _, w := range sh.windows {
			for vi, v := range o.Views {
				if n := len(w.views[vi]); n > limit(v) {
					t.Errorf("a shard holds %d series of view %s, cap %d", n, v, limit(v))
				}
			}
		}
		sh.mu.Unlock()
	}
	read := func(v series.View) map[string]float64 { return counts(t, a, st, v, base, base+60) }
	verify := func(where string) {
		t.Helper()
		for vi, v := range o.Views {
			if v.ForProbes() {
				continue
			}
			got := read(v)
			var total float64
			for _, n := range got {
				total += n
			}
			if len(got) > limit(v) || total != records {
				t.Fatalf("%s: view %s holds %d series (cap %d + overflow) counting %v records, want %d", where, v, len(got), limit(v)-1, total, records)
			}
			if a.parent[vi] >= 0 {
				continue
			}
			capped, _ := testutil.MetricValue(t, reg, "rumd_series_capped_total", "view", v.String())
			if other := got[a.overflow[vi].key]; other != capped {
				t.Fatalf("%s: view %s: overflow series counts %v records, rumd_series_capped_total %v", where, v, other, capped)
			}
			if v.Mask.Len() >= 2 && capped == 0 {
				t.Fatalf("%s: view %s: the spray folded nothing", where, v)
			}
		}
	}
	verify("open window")
	if err := a.flush(base + 60); err != nil {
		t.Fatal(err)
	}
	if st.Flushed() != base+60 {
		t.Fatalf("window not written")
	}
	verify("storage")
}
