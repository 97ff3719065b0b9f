package graphite

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

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
	var lists [2][]*tseries
	for i := range lists {
		var err error
		if lists[i], err = whole.eval(e.args[i]); err != nil {
			return nil, err
		}
	}
	cut, err := apart(&whole, e, &lists)
	if err != nil {
		return nil, err
	}
	var sides [2]*compareSide
	for i, label := range []string{roleA, roleB} {
		if sides[i], err = mergeSide(e, label, lists[i]); err != nil {
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
		for i, side := range []string{roleA, roleB} {
			if w, ok := windowOf(lists[i]); ok {
				tags[side+"_from"], tags[side+"_to"] = strconv.FormatInt(w.From, 10), strconv.FormatInt(w.To, 10)
			}
		}
		if cut != "" {
			tags["cut"] = cut
		}
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

// apart keeps two sides that select the same page views over different windows (a
// timeShift'ed side against the unshifted one) from reading one stored minute on both
// sides, as query.Engine.Apart does for /api/v1/compare: when the widened windows share a
// minute, each side is read again over its cut window, and the note says so. The same
// selection over the same window on both sides is refused.
func apart(whole *evalCtx, e *expr, lists *[2][]*tseries) (note string, err error) {
	var asked [2]query.Window
	var keys [2]string
	for i, list := range lists {
		var ok bool
		if asked[i], keys[i], ok = selectionOf(list); !ok {
			return "", nil // an empty side, or one mixing windows: nothing read twice to cut
		}
	}
	if keys[0] != keys[1] {
		return "", nil // different series: different page views
	}
	if asked[0] == asked[1] {
		return "", query.Errorf(query.BadSelection, "%s compares the same selection on both sides (%s over the same range); compare different series, or timeShift one side", e.s, keys[0])
	}
	cutA, cutB, cut, err := whole.h.eng.Apart(whole.h.opts.Now(), asked[0], asked[1])
	if err != nil || !cut {
		return "", err
	}
	for i, w := range []query.Window{cutA, cutB} {
		sub := *whole
		shift := asked[i].From - whole.from
		sub.from, sub.until = w.From-shift, w.To-shift
		if lists[i], err = sub.eval(e.args[i]); err != nil {
			return "", err
		}
	}
	return query.CutNote(cutA, cutB), nil
}

// selectionOf is what one side selects: the window asked of its series and their tags but
// name and timeShift, which say how it was read, not what; ok is false when it has no
// series or its series were asked over different windows.
func selectionOf(list []*tseries) (asked query.Window, key string, ok bool) {
	var parts []string
	for i, s := range list {
		if i > 0 && s.asked != asked {
			return asked, "", false
		}
		asked = s.asked
		var kv []string
		for k, v := range s.tags {
			if k != "name" && k != "timeShift" {
				kv = append(kv, k+"="+v)
			}
		}
		slices.Sort(kv)
		parts = append(parts, strings.Join(kv, ","))
	}
	slices.Sort(parts)
	return asked, strings.Join(parts, ";"), len(list) > 0
}

// windowOf is the window a side's series were read over, in stored minutes (or hours or
// days); ok is false when the side has no series.
func windowOf(list []*tseries) (query.Window, bool) {
	if len(list) == 0 {
		return query.Window{}, false
	}
	return list[0].read, true
}
