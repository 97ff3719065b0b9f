package aggregator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

func TestPlanDefaultViews(t *testing.T) {
	views := series.DefaultViews()
	parent := plan(DefaultOptions())
	name := func(vi int) string {
		if vi < 0 {
			return "fed"
		}
		return views[vi].String()
	}
	got := map[string]string{}
	for vi, v := range views {
		got[v.String()] = name(parent[vi])
	}
	want := map[string]string{}
	for _, p := range [][2]series.View{
		{series.NewView(), series.NewView(series.Nav)},
		{series.NewView(series.Page), series.NewView(series.Page, series.Country)},
		{series.NewView(series.Country), series.NewView(series.Country, series.Device)},
		{series.NewView(series.Device), series.NewView(series.Country, series.Device)},
		{series.NewView(series.Variant), series.NewView(series.Variant, series.Country)},
		{series.NewView(series.Probe), series.NewView(series.Probe, series.Variant)},
	} {
		want[p[0].String()] = p[1].String()
	}
	for _, v := range []series.View{
		series.NewView(series.Nav), series.NewView(series.Page, series.Country),
		series.NewView(series.Country, series.Device), series.NewView(series.Variant, series.Country),
		series.NewView(series.Probe, series.Variant), series.NewView(series.Probe, series.Country),
	} {
		want[v.String()] = "fed"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan:\n got %v\nwant %v", got, want)
	}
	// A view with no larger view of its kind is fed, even when a probe view holds its
	// dimensions: probe views carry other metrics.
	o := DefaultOptions()
	o.Views = []series.View{series.NewView(series.Country), series.NewView(series.Probe, series.Country)}
	if p := plan(o); p[0] != -1 || p[1] != -1 {
		t.Fatalf("plan of a page and a probe view: %v", p)
	}
}

// TestDerivedViewsEqualFedOnes: every view, fed or derived, answers exactly what feeding it
// from every record would give: from an open window (queries and the exposition's totals)
// and from storage after the window closes. The reference is built here from the records,
// with the caps applied in arrival order as the aggregator does.
func TestDerivedViewsEqualFedOnes(t *testing.T) {
	base := int64(1763683200)
	c := newClock(base + 5)
	st := mustStore(t)
	views := series.DefaultViews()
	var exposed []series.Mask
	for _, v := range views {
		exposed = append(exposed, v.Mask)
	}
	a := mustOpen(t, st, c, func(o *Options) {
		o.Caps[series.Page] = 6 // 10 pages: some go to __other__
		o.Caps[series.Probe] = 2
		o.Totals = DefaultTotalsOptions()
		o.Totals.Views = exposed
	})

	r := rand.New(rand.NewPCG(3, 8))
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	var recs []series.Record
	for i := 0; i < 3000; i++ {
		rc := series.Record{Time: base + int64(i%60)}
		rc.Labels[series.Page] = fmt.Sprintf("/p%d", r.IntN(10))
		rc.Labels[series.Country] = pick("DE", "FR", "US", "JP", "BR")
		rc.Labels[series.Device] = pick("desktop", "mobile", "tablet")
		rc.Labels[series.Nav] = pick("navigate", "reload", "back_forward")
		rc.Labels[series.Variant] = pick("none", "a", "b")
		for m := 0; m < series.NumPageMetrics; m++ {
			if r.IntN(4) > 0 {
				rc.Set(series.Metric(m), math.Exp(r.NormFloat64()+5+float64(m)*0.1))
			}
		}
		for p := 0; p < r.IntN(3); p++ {
			pv := series.ProbeValues{Name: pick("cdn-a", "cdn-b", "cdn-c")}
			for m := series.ProbeDNS; m < series.NumMetrics; m++ {
				pv.Set(m, r.ExpFloat64()*50)
			}
			rc.Probes = append(rc.Probes, pv)
		}
		recs = append(recs, rc)
	}
	for i := range recs {
		a.Apply(&recs[i])
	}
	want := reference(views, recs, map[series.Dim]int{series.Page: 6, series.Probe: 2})

	compare := func(where string, got map[string]*sketch.Counts, v series.View, m series.Metric) {
		t.Helper()
		w := want[v.Mask][m]
		if len(got) != len(w) {
			t.Fatalf("%s: view %s metric %s: %d series, want %d", where, v, m, len(got), len(w))
		}
		for k, wc := range w {
			gc := got[k]
			if gc == nil || gc.Count() != wc.Count() || math.Abs(gc.Sum()-wc.Sum()) > 1e-6*wc.Sum() {
				t.Fatalf("%s: view %s metric %s series %q: got %v, want count %d", where, v, m, k, gc, wc.Count())
			}
			gs, ws := gc.Sketch(), wc.Sketch()
			for _, q := range []float64{0, 0.25, 0.5, 0.9, 0.99, 1} {
				if x, y := sketch.Quantile(gs, q), sketch.Quantile(ws, q); x != y {
					t.Fatalf("%s: view %s metric %s series %q q%v: %v, want %v", where, v, m, k, q, x, y)
				}
			}
		}
	}
	metricsOf := func(v series.View) []series.Metric {
		var out []series.Metric
		for m := series.Metric(0); m < series.NumMetrics; m++ {
			if v.Carries(m) {
				out = append(out, m)
			}
		}
		return out
	}

	// The open window, as a query reads it.
	for _, v := range views {
		for _, m := range metricsOf(v) {
			got := map[string]*sketch.Counts{}
			a.Collect(v.Mask, m, base, base+60, func(_ int64, l *series.Labels, c *sketch.Counts) {
				k := string(series.AppendKey(nil, v, l))
				if got[k] == nil {
					got[k] = &sketch.Counts{}
				}
				got[k].Merge(c)
			})
			compare("open window", got, v, m)
		}
	}
	// The open window, as the exposition reads it.
	totals := map[series.Mask]map[series.Metric]map[string]uint64{}
	a.EachTotal(func(v series.View, m series.Metric, l *series.Labels, tot *sketch.Total, _ int64) {
		if totals[v.Mask] == nil {
			totals[v.Mask] = map[series.Metric]map[string]uint64{}
		}
		if totals[v.Mask][m] == nil {
			totals[v.Mask][m] = map[string]uint64{}
		}
		totals[v.Mask][m][string(series.AppendKey(nil, v, l))] += tot.Count()
	})
	for _, v := range views {
		for _, m := range metricsOf(v) {
			for k, wc := range want[v.Mask][m] {
				if got := totals[v.Mask][m][k]; got != wc.Count() {
					t.Fatalf("totals: view %s metric %s series %q: %d, want %d", v, m, k, got, wc.Count())
				}
			}
		}
	}
	// The closed window, from storage.
	c.set(base + 63)
	if err := a.flush(base + 60); err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		for _, m := range metricsOf(v) {
			got := map[string]*ddsketch.DDSketch{}
			err := st.Scan(storage.Minute, v.Mask, m, base, base+60, func(_ int64, key, val []byte) error {
				s, err := sketch.Decode(val)
				got[string(key)] = s
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			w := want[v.Mask][m]
			if len(got) != len(w) {
				t.Fatalf("storage: view %s metric %s: %d series, want %d", v, m, len(got), len(w))
			}
			for k, wc := range w {
				gs, ws := got[k], wc.Sketch()
				if gs == nil || gs.GetCount() != ws.GetCount() {
					t.Fatalf("storage: view %s metric %s series %q: %v, want count %v", v, m, k, gs, ws.GetCount())
				}
				for _, q := range []float64{0, 0.25, 0.5, 0.9, 0.99, 1} {
					if x, y := sketch.Quantile(gs, q), sketch.Quantile(ws, q); x != y {
						t.Fatalf("storage: view %s metric %s series %q q%v: %v, want %v", v, m, k, q, x, y)
					}
				}
			}
		}
	}
}

// reference feeds every view from every record, admitting label values under caps in
// arrival order.
func reference(views []series.View, recs []series.Record, caps map[series.Dim]int) map[series.Mask]map[series.Metric]map[string]*sketch.Counts {
	admitted := map[series.Dim][]string{}
	admit := func(d series.Dim, v string) string {
		c, ok := caps[d]
		if !ok || slices.Contains(admitted[d], v) {
			return v
		}
		if len(admitted[d]) >= c {
			return series.Other
		}
		admitted[d] = append(admitted[d], v)
		return v
	}
	out := map[series.Mask]map[series.Metric]map[string]*sketch.Counts{}
	add := func(v series.View, m series.Metric, l *series.Labels, x float64) {
		if out[v.Mask] == nil {
			out[v.Mask] = map[series.Metric]map[string]*sketch.Counts{}
		}
		if out[v.Mask][m] == nil {
			out[v.Mask][m] = map[string]*sketch.Counts{}
		}
		k := string(series.AppendKey(nil, v, l))
		if out[v.Mask][m][k] == nil {
			out[v.Mask][m][k] = &sketch.Counts{}
		}
		out[v.Mask][m][k].Add(x)
	}
	for i := range recs {
		rc := &recs[i]
		l := rc.Labels
		for d := series.Dim(0); d < series.NumDims; d++ {
			if d != series.Probe {
				l[d] = admit(d, l[d])
			}
		}
		for _, v := range views {
			if v.ForProbes() {
				continue
			}
			for m := 0; m < series.NumPageMetrics; m++ {
				if rc.Has&(1<<m) != 0 {
					add(v, series.Metric(m), &l, rc.Values[m])
				}
			}
		}
		for _, p := range rc.Probes {
			l[series.Probe] = admit(series.Probe, p.Name)
			for _, v := range views {
				if !v.ForProbes() {
					continue
				}
				for m := 0; m < series.NumProbeMetrics; m++ {
					if p.Has&(1<<m) != 0 {
						add(v, series.ProbeDNS+series.Metric(m), &l, p.Values[m])
					}
				}
			}
		}
	}
	return out
}
