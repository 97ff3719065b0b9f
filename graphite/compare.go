package graphite

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/query"
)

// Roles of comparePercentiles' series, in the order answered; the "compare" tag holds one.
const (
	roleDelta  = "delta"
	roleA      = "a"
	roleB      = "b"
	roleCILow  = "ci_low"
	roleCIHigh = "ci_high"
)

// compareSide is one side of comparePercentiles: every sketch of its series list merged.
type compareSide struct {
	sk     *ddsketch.DDSketch
	n      int // series merged
	st     stat
	metric series.Metric
	first  *tseries // the first series merged, for errors
}

// fnComparePercentiles answers comparePercentiles(seriesListA, seriesListB[, details]): what
// GET /api/v1/compare answers for one percentile, in the shape a Grafana table or stat panel
// reads through the built-in Graphite data source. Each side's sketches are merged over the
// whole range, every series and every step (the sides are read as maxDataPoints=1 reads
// them, whatever the panel's step), and compared with query.CompareQuantile. The answer is
// one point per series at the start of the range, its step the whole range: a series named
// by query.Verdict whose value is the delta b − a, and with details the series
// "<metric> <stat> a", "... b", "... ci_low" and "... ci_high" (the 95% interval of the
// delta; null when a side has too few page views to bound it).
func fnComparePercentiles(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 3); err != nil {
		return nil, err
	}
	details := false
	if len(e.args) == 3 {
		a := e.args[2]
		if a.kind != kBool {
			return nil, badf("bad_argument", "argument 3 of %s (details) must be true or false, got %s", e.s, a.text)
		}
		details = a.b
	}
	whole := *ec
	whole.step, whole.sketches = 0, true
	var sides [2]*compareSide
	for i, label := range []string{roleA, roleB} {
		list, err := whole.eval(e.args[i])
		if err != nil {
			return nil, err
		}
		if sides[i], err = mergeSide(e, label, list); err != nil {
			return nil, err
		}
	}
	a, b := sides[0], sides[1]
	switch {
	case a.n == 0 && b.n == 0:
		return nil, nil // no series on either side: not even the percentile is known
	case a.n == 0:
		a.st, a.metric = b.st, b.metric
	case b.n == 0:
		b.st, b.metric = a.st, a.metric
	case a.st.q != b.st.q || a.metric != b.metric:
		return nil, badf("bad_argument", "%s compares one percentile of one metric, and side a is %s %s (%s) while side b is %s %s (%s)",
			e.s, a.metric, a.st.name, a.first.name, b.metric, b.st.name, b.first.name)
	}
	d := query.CompareQuantile(a.sk, b.sk, a.st.q)
	verdict := query.Verdict(d, a.metric.Unit(), a.sk.GetCount(), b.sk.GetCount())
	lo, hi := d.CI[0], d.CI[1]
	if !d.Enough {
		lo, hi = math.NaN(), math.NaN()
	}
	base, step, _ := whole.grid()
	label := a.metric.String() + " " + a.st.name
	one := func(name, role string, v float64) *tseries {
		tags := map[string]string{"name": name, "metric": a.metric.String(), "stat": a.st.name, "compare": role}
		return &tseries{name: name, expr: name, tags: tags, stat: a.st, start: base, step: step, values: []float64{v}}
	}
	out := []*tseries{one(verdict, roleDelta, d.Delta)}
	if details {
		out = append(out,
			one(label+" "+roleA, roleA, d.A),
			one(label+" "+roleB, roleB, d.B),
			one(label+" "+roleCILow, roleCILow, lo),
			one(label+" "+roleCIHigh, roleCIHigh, hi))
	}
	return out, ec.charge(len(out))
}

// mergeSide merges every sketch of one side's series, which must all read one percentile of
// one metric from one view: two views hold the same page views, so merging them would count
// each twice.
func mergeSide(e *expr, label string, list []*tseries) (*compareSide, error) {
	sd := &compareSide{sk: sketch.New()}
	for _, s := range list {
		if s.sketches == nil {
			return nil, badf("bad_argument", "%s merges the sketches behind each side, and side %s's %q was computed from numbers; give a path, seriesByTag(...) or mergeSeries/groupByNode(s)/groupByTags of one, optionally through alias*, timeShift, limit or sorting", e.s, label, s.name)
		}
		if s.stat.count {
			return nil, badf("bad_argument", "%s compares percentiles, and side %s's %q is a count; end the path in the percentile to compare, e.g. p75", e.s, label, s.name)
		}
		m, ok := series.ParseMetric(s.metricName())
		if !ok {
			return nil, badf("bad_argument", "%s: side %s's %q names no metric", e.s, label, s.name)
		}
		if sd.n == 0 {
			sd.st, sd.metric, sd.first = s.stat, m, s
		} else if s.stat.q != sd.st.q || m != sd.metric {
			return nil, badf("bad_argument", "%s compares one percentile of one metric, and side %s holds %q (%s %s) and %q (%s %s)",
				e.s, label, sd.first.name, sd.metric, sd.st.name, s.name, m, s.stat.name)
		} else if s.view != sd.first.view {
			return nil, badf("bad_argument", "%s merges the series of each side, and side %s reads views %s and %s, which hold the same page views; read each side from one view, e.g. with mergeSeries(<path>)",
				e.s, label, sd.first.view, s.view)
		}
		for _, k := range s.sketches {
			if k == nil {
				continue
			}
			if err := sd.sk.MergeWith(k); err != nil {
				return nil, fmt.Errorf("%s: merge side %s: %w", e.s, label, err)
			}
		}
		sd.n++
	}
	return sd, nil
}
