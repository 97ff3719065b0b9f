package aggregator

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// TotalsOptions configures the cumulative per-series counts kept beside the windows for the
// Prometheus exposition (docs/scaling-out.md). Nothing is kept when Views is empty.
type TotalsOptions struct {
	// Views whose series keep totals; each must be one of the aggregator's views.
	Views []series.Mask
	// Metrics that keep totals; empty means every metric the views carry.
	Metrics []series.Metric
	// IdleAfter drops a series that had no value for this long, so memory stays bounded
	// when label values churn; a series that comes back starts from zero (a counter reset,
	// which Prometheus' rate and increase handle).
	IdleAfter time.Duration
	// MaxSeries bounds the series of one view; values of further series are counted in
	// the view's series whose every label is series.Other.
	MaxSeries int
}

// DefaultTotalsOptions keeps nothing until views are named; the idle time and series cap
// are those used when they are.
func DefaultTotalsOptions() TotalsOptions {
	return TotalsOptions{IdleAfter: time.Hour, MaxSeries: 5000}
}

// Validate checks the options against the aggregator's views.
func (o *TotalsOptions) Validate(views []series.View) error {
	if len(o.Views) == 0 {
		return nil
	}
	for _, m := range o.Views {
		found := false
		for _, v := range views {
			found = found || v.Mask == m
		}
		if !found {
			return fmt.Errorf("exposed view %s is not a materialised view", series.View{Mask: m, Dims: m.Dims()})
		}
	}
	for _, m := range o.Metrics {
		if m >= series.NumMetrics {
			return fmt.Errorf("exposed metric %d does not exist", m)
		}
	}
	if o.IdleAfter < 2*time.Minute {
		return fmt.Errorf("idle time of exposed series must be at least 2m, got %s", o.IdleAfter)
	}
	if o.MaxSeries < 1 {
		return errors.New("series cap of the exposition must be positive")
	}
	return nil
}

// totals holds the cumulative counts: closed windows are folded in when they leave the
// shards (under viewMu), and a reader adds the open windows on top, so what it sees only
// grows and no beacon is counted twice. Nothing of this runs per beacon.
type totals struct {
	opts    TotalsOptions
	keep    []bool // by view index
	metrics [series.NumMetrics]bool
	views   []map[string]*totalSeries // by view index
	other   []string                  // by view index: the overflow series' key

	series  prometheus.Gauge
	dropped prometheus.Counter
	overcap prometheus.Counter
}

type totalSeries struct {
	labels series.Labels
	sk     []sketch.Total // by metric offset, as in entry
	born   int64          // start of the first window counted
	last   int64          // start of the latest window with a value
}

func newTotals(reg prometheus.Registerer, views []series.View, o TotalsOptions) *totals {
	if len(o.Views) == 0 {
		return nil
	}
	t := &totals{opts: o, keep: make([]bool, len(views)), views: make([]map[string]*totalSeries, len(views)), other: make([]string, len(views))}
	for vi, v := range views {
		for _, m := range o.Views {
			t.keep[vi] = t.keep[vi] || v.Mask == m
		}
		t.views[vi] = map[string]*totalSeries{}
		var l series.Labels
		for _, d := range v.Dims {
			l[d] = series.Other
		}
		t.other[vi] = string(series.AppendKey(nil, v, &l))
	}
	for m := range t.metrics {
		t.metrics[m] = len(o.Metrics) == 0
	}
	for _, m := range o.Metrics {
		t.metrics[m] = true
	}
	t.series = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rumd_exposition_series", Help: "Cumulative series held for the Prometheus exposition at /metrics/rum.",
	})
	t.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rumd_exposition_series_dropped_total", Help: "Exposed series dropped after their idle time.",
	})
	t.overcap = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rumd_exposition_series_overflow_total", Help: "Window series counted in their view's __other__ series because the exposition's series cap was reached.",
	})
	if reg != nil {
		reg.MustRegister(t.series, t.dropped, t.overcap)
	}
	return t
}

// metricAt is the metric of offset i in a view carrying probe metrics or not.
func metricAt(probes bool, i int) series.Metric {
	if probes {
		return series.ProbeDNS + series.Metric(i)
	}
	return series.Metric(i)
}

// lookup finds or makes the series of key k in view vi of m; past the cap it is the
// overflow series.
func (t *totals) lookup(m map[string]*totalSeries, vi int, v series.View, k string, e *entry, start int64) *totalSeries {
	if ts := m[k]; ts != nil {
		return ts
	}
	if len(m) >= t.opts.MaxSeries-1 && k != t.other[vi] { // the overflow series is one of them
		t.overcap.Inc()
		k = t.other[vi]
		if ts := m[k]; ts != nil {
			return ts
		}
	}
	ts := t.newSeries(vi, v, k, e, start)
	m[k] = ts
	return ts
}

func (t *totals) newSeries(vi int, v series.View, k string, e *entry, start int64) *totalSeries {
	ts := &totalSeries{sk: make([]sketch.Total, len(e.sk)), born: start}
	if k == t.other[vi] {
		for _, d := range v.Dims {
			ts.labels[d] = series.Other
		}
	} else {
		ts.labels = e.labels
	}
	return ts
}

// overlay is lookup for a reader: series of base that an open window touches are copied
// into o, and new ones are made in o, under the same cap as base. fresh counts the series
// of o that base lacks.
func (t *totals) overlay(o, base map[string]*totalSeries, fresh *int, vi int, v series.View, k string, e *entry, start int64) *totalSeries {
	if ts := o[k]; ts != nil {
		return ts
	}
	if base[k] == nil && len(base)+*fresh >= t.opts.MaxSeries-1 && k != t.other[vi] {
		k = t.other[vi]
		if ts := o[k]; ts != nil {
			return ts
		}
	}
	var ts *totalSeries
	if cur := base[k]; cur != nil {
		ts = &totalSeries{labels: cur.labels, sk: make([]sketch.Total, len(cur.sk)), born: cur.born, last: cur.last}
		for i := range cur.sk {
			ts.sk[i] = *cur.sk[i].Clone()
		}
	} else {
		ts = t.newSeries(vi, v, k, e, start)
		*fresh++
	}
	o[k] = ts
	return ts
}

func (t *totals) add(ts *totalSeries, probes bool, e *entry, start int64) {
	for i := range e.sk {
		if e.sk[i].Empty() || !t.metrics[metricAt(probes, i)] {
			continue
		}
		ts.sk[i].AddCounts(&e.sk[i])
		ts.last = max(ts.last, start)
	}
}

// fold adds closed window pieces to the totals, then drops the series idle since before
// closeBefore-IdleAfter. The caller holds viewMu for writing.
func (t *totals) fold(views []series.View, moved []*window, closeBefore int64) {
	if t == nil {
		return
	}
	n := 0
	for vi, v := range views {
		if !t.keep[vi] {
			continue
		}
		m := t.views[vi]
		for _, w := range moved {
			for k, e := range w.views[vi] {
				t.add(t.lookup(m, vi, v, k, e, w.start), v.ForProbes(), e, w.start)
			}
		}
		idle := closeBefore - int64(t.opts.IdleAfter/time.Second)
		for k, ts := range m {
			if ts.last < idle && closeBefore < 1<<62 { // Close flushes with 1<<62: keep all
				delete(m, k)
				t.dropped.Inc()
			}
		}
		n += len(m)
	}
	t.series.Set(float64(n))
}

// EachTotal calls fn with the cumulative counts of every exposed series, the open windows
// included, in view then key order; metrics with nothing counted are skipped. born is the
// start of the first window the series counts. fn must not keep t.
func (a *Aggregator) EachTotal(fn func(v series.View, m series.Metric, l *series.Labels, t *sketch.Total, born int64)) {
	tot := a.totals
	if tot == nil {
		return
	}
	a.viewMu.RLock()
	defer a.viewMu.RUnlock()
	// The open windows go on top of copies of the series they touch; the rest is read in place.
	over := make([]map[string]*totalSeries, len(a.views))
	fresh := make([]int, len(a.views))
	for vi := range a.views {
		over[vi] = map[string]*totalSeries{}
	}
	for _, sh := range a.shards {
		sh.mu.Lock()
		for _, w := range sh.windows {
			for vi, v := range a.views {
				if !tot.keep[vi] {
					continue
				}
				base, o := tot.views[vi], over[vi]
				for k, e := range a.viewOf(w, vi) {
					ts := tot.overlay(o, base, &fresh[vi], vi, v, k, e, w.start)
					tot.add(ts, v.ForProbes(), e, w.start)
				}
			}
		}
		sh.mu.Unlock()
	}
	for vi, v := range a.views {
		if !tot.keep[vi] {
			continue
		}
		keys := make([]string, 0, len(tot.views[vi])+len(over[vi]))
		for k := range tot.views[vi] {
			keys = append(keys, k)
		}
		for k := range over[vi] {
			if tot.views[vi][k] == nil {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			ts := over[vi][k]
			if ts == nil {
				ts = tot.views[vi][k]
			}
			for i := range ts.sk {
				if ts.sk[i].Count() > 0 {
					fn(v, metricAt(v.ForProbes(), i), &ts.labels, &ts.sk[i], ts.born)
				}
			}
		}
	}
}
