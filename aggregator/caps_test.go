package aggregator

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"rumd/internal/series"
	"rumd/internal/sketch"
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
