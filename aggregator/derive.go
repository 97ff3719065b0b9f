package aggregator

import (
	"math"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// A view whose dimensions are all in a larger view of the same kind (page or probe) is not
// fed at ingest: each of its sketches is the merge of the larger view's sketches that share
// its labels, because every view of a record sees the same capped labels and merging bucket
// counts is exact. A beacon then touches only the fed views' sketches (4 of the 9 default
// page views, 2 of the 3 probe views), and the derived views are merged from them when a
// window closes, or when a reader looks at an open window. See docs/architecture.md.

// plan picks, for every view, the fed view it is derived from (-1 when it is fed itself).
// A view is fed when no other view of its kind holds all its dimensions and more, and few
// enough series to keep it within its own series cap (see fits). A derived view is merged
// from the fed superset whose extra dimensions have the smallest product of caps, the one
// with the fewest series to merge at most.
func plan(o Options) []int {
	views := o.Views
	parent := make([]int, len(views))
	fed := func(vi int) bool {
		for vj := range views {
			if strictSuperset(views[vj], views[vi]) && fits(o, views[vj], views[vi]) {
				return false
			}
		}
		return true
	}
	for vi, v := range views {
		parent[vi] = -1
		if fed(vi) {
			continue
		}
		best := math.Inf(1)
		for vj, w := range views {
			if !strictSuperset(w, v) || !fits(o, w, v) || !fed(vj) {
				continue
			}
			cost := 1.0
			for _, d := range w.Dims {
				if !v.Mask.Has(d) {
					cost *= float64(o.Caps[d])
				}
			}
			if cost < best {
				best, parent[vi] = cost, vj
			}
		}
	}
	return parent
}

// bound is the most series view v holds in a window, besides its overflow series: its
// series cap, or fewer when its dimensions' caps (each with series.Other) allow fewer
// combinations.
func bound(o Options, v series.View) float64 {
	n := 1.0
	for _, d := range v.Dims {
		n *= float64(o.Caps[d] + 1)
	}
	return min(n, float64(o.seriesCap(v)))
}

// fits reports whether view v, merged from its superset w, stays within its own series cap:
// its series are the projections of w's, so it holds at most min(bound(w), combinations of
// v's dimensions). Fed itself instead, v would fold the combinations past its cap as they
// arrive, which no merge can reproduce. (If u fits w and w fits v, u fits v: a fed parent
// that fits is always found.)
func fits(o Options, w, v series.View) bool {
	n := 1.0
	for _, d := range v.Dims {
		n *= float64(o.Caps[d] + 1)
	}
	return min(bound(o, w), n) <= bound(o, v)
}

// strictSuperset reports whether w holds every dimension of v and more, with the same kind
// of metrics.
func strictSuperset(w, v series.View) bool {
	return w.Mask != v.Mask && w.Mask&v.Mask == v.Mask && w.ForProbes() == v.ForProbes()
}

// viewOf is the map of view vi in window piece w: held for fed views and for closed windows,
// merged from the parent's entries for a derived view of an open window. The caller holds
// the lock that guards w.
func (a *Aggregator) viewOf(w *window, vi int) map[string]*entry {
	pi := a.parent[vi]
	if pi < 0 || w.derived {
		return w.views[vi]
	}
	return a.derived(vi, w.views[pi])
}

// derived merges the entries of a fed view into those of derived view vi.
func (a *Aggregator) derived(vi int, from map[string]*entry) map[string]*entry {
	v := a.views[vi]
	out := make(map[string]*entry)
	var buf []byte
	for _, e := range from {
		l := e.labels.Only(v.Dims)
		buf = series.AppendKey(buf[:0], v, &l)
		m := out[string(buf)]
		if m == nil {
			m = &entry{labels: l, sk: make([]sketch.Counts, len(e.sk))}
			out[string(buf)] = m
		}
		for i := range e.sk {
			m.sk[i].Merge(&e.sk[i])
		}
	}
	return out
}

// deriveAll fills the derived views of a window piece that has left its shard, so that the
// closed window holds every view like one fed in full. It returns the sketches it made.
func (a *Aggregator) deriveAll(w *window) int {
	if w.derived {
		return 0
	}
	n := 0
	for vi, pi := range a.parent {
		if pi < 0 {
			continue
		}
		w.views[vi] = a.derived(vi, w.views[pi])
		for _, e := range w.views[vi] {
			n += countSketches(e)
		}
	}
	w.derived = true
	return n
}

// eachEntry calls fn with the labels (of view vi's dimensions only) and entry of every
// series of view vi in window piece w, without building a derived view's map: for a derived
// view of an open window it visits the parent's entries, several of which may share one
// series of vi. Callers that merge what they are given by labels see the same result.
func (a *Aggregator) eachEntry(w *window, vi int, fn func(l *series.Labels, e *entry)) {
	pi := a.parent[vi]
	if pi < 0 || w.derived {
		for _, e := range w.views[vi] {
			fn(&e.labels, e)
		}
		return
	}
	v := a.views[vi]
	for _, e := range w.views[pi] {
		l := e.labels.Only(v.Dims)
		fn(&l, e)
	}
}
