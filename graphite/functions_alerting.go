package graphite

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/sketch"
	"rumd/query"
)

// The functions alerting tools and status pages use: filling and dropping points, keeping
// the series whose value crosses a threshold, threshold lines, arithmetic and moving
// windows. They work on the numbers of a series, except a moving window over a percentile,
// which merges the window's sketches (docs/graphite.md).
func init() {
	valueParam := funcParam{Name: "n", Type: "float", Required: true}
	for _, f := range []*function{
		{Name: "keepLastValue", Group: "Transform", Description: "Fills each gap of at most limit points (all gaps by default) with the value before it, so that an alert reading the last value reads the last one seen.",
			Params: []funcParam{seriesListParam, {Name: "limit", Type: "integer", Default: "INF"}}, call: fnKeepLastValue},
		{Name: "transformNull", Group: "Transform", Description: "Replaces every gap with default (0 unless given).",
			Params: []funcParam{seriesListParam, {Name: "default", Type: "float", Default: 0}}, call: fnTransformNull},
		{Name: "removeAboveValue", Group: "Filter Data", Description: "Drops (makes null) every value above n.",
			Params: []funcParam{seriesListParam, valueParam}, call: fnRemoveValues},
		{Name: "removeBelowValue", Group: "Filter Data", Description: "Drops (makes null) every value below n.",
			Params: []funcParam{seriesListParam, valueParam}, call: fnRemoveValues},
		{Name: "currentAbove", Group: "Filter Series", Description: "Keeps the series whose last non-null value is above n.",
			Params: []funcParam{seriesListParam, valueParam}, call: fnFilterSeries},
		{Name: "currentBelow", Group: "Filter Series", Description: "Keeps the series whose last non-null value is at most n.",
			Params: []funcParam{seriesListParam, valueParam}, call: fnFilterSeries},
		{Name: "maximumAbove", Group: "Filter Series", Description: "Keeps the series whose largest value is above n.",
			Params: []funcParam{seriesListParam, valueParam}, call: fnFilterSeries},
		{Name: "scale", Group: "Transform", Description: "Multiplies every value by factor, e.g. scale(rumd.total.lcp.p75, 0.001) for seconds.",
			Params: []funcParam{seriesListParam, {Name: "factor", Type: "float", Required: true}}, call: fnArithmetic},
		{Name: "offset", Group: "Transform", Description: "Adds factor to every value.",
			Params: []funcParam{seriesListParam, {Name: "factor", Type: "float", Required: true}}, call: fnArithmetic},
		{Name: "threshold", Group: "Graph", Description: "A horizontal line at value, named label (the value by default) and drawn in color, e.g. threshold(2500, 'LCP good', 'green') for a web-vitals threshold.",
			Params: []funcParam{{Name: "value", Type: "float", Required: true}, {Name: "label", Type: "string"}, {Name: "color", Type: "string"}}, call: fnThreshold},
		{Name: "movingWindow", Group: "Calculate", Description: "Each point over the windowSize before it (a number of points, or an interval such as '1h'). On a percentile series, 'average' (the default), 'avg', 'median' and 'merge' all merge the sketches of the window and read the percentile of every page view in it: the honest moving percentile, never an average of percentiles; 'min', 'max' and 'last' take the smallest, largest or last point. On counts: average, avg, median, sum, merge (= sum), min, max, last.",
			Params: []funcParam{seriesListParam, {Name: "windowSize", Type: "intOrInterval", Required: true}, {Name: "func", Type: "aggFunc", Default: "average", Options: windowFuncs}, {Name: "xFilesFactor", Type: "float"}}, call: fnMovingWindow},
		{Name: "movingAverage", Group: "Calculate", Description: "movingWindow with 'average': on a percentile series the sketches of the window are merged (the moving percentile of every page view in the window), on counts the counts are averaged.",
			Params: []funcParam{seriesListParam, {Name: "windowSize", Type: "intOrInterval", Required: true}, {Name: "xFilesFactor", Type: "float"}}, call: fnMovingWindow},
	} {
		f.Module = "rumd"
		functions[f.Name] = f
	}
}

// windowFuncs are the aggregations movingWindow takes.
var windowFuncs = []string{"average", "avg", "median", "merge", "sum", "min", "max", "last"}

func numberArg(e *expr, i int) (float64, error) {
	a := e.args[i]
	if a.kind != kNumber || math.IsInf(a.num, 0) || math.IsNaN(a.num) {
		return 0, badf("bad_argument", "argument %d of %s must be a number, got %s", i+1, e.s, a.text)
	}
	return a.num, nil
}

// derive renames a series whose numbers a function changed: its sketches no longer stand
// behind its values, so comparePercentiles refuses it.
func derive(s *tseries, name string) {
	s.name = name
	s.sketches = nil
}

func fnKeepLastValue(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 2); err != nil {
		return nil, err
	}
	limit := math.MaxInt
	if len(e.args) == 2 {
		n, err := intArg(e, 1)
		if err != nil || n < 0 {
			return nil, badf("bad_argument", "keepLastValue's limit must be a whole number of points ≥ 0, got %s", e.args[1].text)
		}
		limit = n
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		keepLast(s.values, limit)
		derive(s, "keepLastValue("+s.name+")")
	}
	return list, err
}

// keepLast fills each run of NaN of at most limit points with the value before it; a run
// at the start has nothing before it and stays.
func keepLast(vals []float64, limit int) {
	last := math.NaN()
	for i := 0; i < len(vals); {
		if !math.IsNaN(vals[i]) {
			last = vals[i]
			i++
			continue
		}
		end := i
		for end < len(vals) && math.IsNaN(vals[end]) {
			end++
		}
		if !math.IsNaN(last) && end-i <= limit {
			for j := i; j < end; j++ {
				vals[j] = last
			}
		}
		i = end
	}
}

func fnTransformNull(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 2); err != nil {
		return nil, err
	}
	def := 0.0
	if len(e.args) == 2 {
		var err error
		if def, err = numberArg(e, 1); err != nil {
			return nil, err
		}
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		for i, v := range s.values {
			if math.IsNaN(v) {
				s.values[i] = def
			}
		}
		derive(s, fmt.Sprintf("transformNull(%s,%s)", s.name, formatNumber(def)))
	}
	return list, err
}

// fnRemoveValues answers removeAboveValue and removeBelowValue.
func fnRemoveValues(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 2); err != nil {
		return nil, err
	}
	n, err := numberArg(e, 1)
	if err != nil {
		return nil, err
	}
	above := e.s == "removeAboveValue"
	list, err := firstList(ec, e)
	for _, s := range list {
		for i, v := range s.values {
			if above && v > n || !above && v < n {
				s.values[i] = math.NaN()
			}
		}
		derive(s, fmt.Sprintf("%s(%s, %s)", e.s, s.name, formatNumber(n)))
	}
	return list, err
}

// fnFilterSeries answers currentAbove, currentBelow and maximumAbove: the series whose last
// (or largest) value crosses n. A series with no value is dropped.
func fnFilterSeries(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 2); err != nil {
		return nil, err
	}
	n, err := numberArg(e, 1)
	if err != nil {
		return nil, err
	}
	list, err := firstList(ec, e)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, s := range list {
		var keep bool
		switch e.s {
		case "maximumAbove":
			keep = s.max() > n
		case "currentAbove":
			keep = lastValue(s.values) > n
		default:
			v := lastValue(s.values)
			keep = !math.IsNaN(v) && v <= n
		}
		if keep {
			out = append(out, s)
		}
	}
	return out, nil
}

// lastValue is the last value that is not a gap, NaN when there is none.
func lastValue(vals []float64) float64 {
	for i := len(vals) - 1; i >= 0; i-- {
		if !math.IsNaN(vals[i]) {
			return vals[i]
		}
	}
	return math.NaN()
}

// fnArithmetic answers scale and offset.
func fnArithmetic(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 2); err != nil {
		return nil, err
	}
	f, err := numberArg(e, 1)
	if err != nil {
		return nil, err
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		for i, v := range s.values {
			if e.s == "scale" {
				s.values[i] = v * f
			} else {
				s.values[i] = v + f
			}
		}
		derive(s, fmt.Sprintf("%s(%s,%s)", e.s, s.name, formatNumber(f)))
	}
	return list, err
}

// fnThreshold answers threshold(value[, label[, color]]): a constant line over the range
// that a graph draws in color.
func fnThreshold(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 3); err != nil {
		return nil, err
	}
	v, err := numberArg(e, 0)
	if err != nil {
		return nil, err
	}
	name := formatNumber(v)
	if len(e.args) >= 2 {
		if name, err = stringArg(e, 1); err != nil {
			return nil, err
		}
	}
	col := ""
	if len(e.args) == 3 {
		if col, err = stringArg(e, 2); err != nil {
			return nil, err
		}
		if _, err := parseColor(col); err != nil {
			return nil, badf("bad_argument", "threshold: %v", err)
		}
	}
	step := max(1, (ec.until-ec.from)/2)
	return []*tseries{{name: name, expr: name, tags: map[string]string{"name": name}, cnst: true, color: col,
		start: ec.from, step: step, values: []float64{v, v, v}}}, nil
}

// fnMovingWindow answers movingWindow and movingAverage. The series are read from
// windowSize before the range, so that the first point has a whole window too.
func fnMovingWindow(ec *evalCtx, e *expr) ([]*tseries, error) {
	maxArgs := 4
	if e.s == "movingAverage" {
		maxArgs = 3
	}
	if err := args(e, 2, maxArgs); err != nil {
		return nil, err
	}
	win := e.args[1]
	fn, xff := "average", 0.0
	rest := e.args[2:]
	if e.s == "movingWindow" && len(rest) > 0 {
		var err error
		if fn, err = stringArg(e, 2); err != nil {
			return nil, err
		}
		if !slices.Contains(windowFuncs, fn) {
			return nil, badf("bad_argument", "movingWindow: func %q is none of %s", fn, strings.Join(windowFuncs, ", "))
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		var err error
		if xff, err = numberArg(e, len(e.args)-1); err != nil || xff < 0 || xff > 1 {
			return nil, badf("bad_argument", "%s: xFilesFactor must be a number from 0 to 1, got %s", e.s, rest[0].text)
		}
	}
	step := ec.step
	if step == 0 {
		_, step, _ = ec.grid()
	}
	var points int
	var winText string
	switch win.kind {
	case kNumber:
		n, err := intArg(e, 1)
		if err != nil || n < 1 {
			return nil, badf("bad_argument", "%s: windowSize must be a whole number of points ≥ 1 or an interval like '1h', got %s", e.s, win.text)
		}
		points, winText = n, win.text
	case kString:
		d, err := query.ParseShift(strings.TrimPrefix(win.s, "-"))
		if err != nil || d >= 0 {
			return nil, badf("bad_argument", "%s: windowSize %q is not an interval like '5min' or '1h'", e.s, win.s)
		}
		points, winText = max(1, int(-d.Seconds())/int(step)), "'"+win.s+"'"
	default:
		return nil, badf("bad_argument", "%s: windowSize must be a number of points or an interval like '1h', got %s", e.s, win.text)
	}
	if points > 100_000 {
		return nil, badf("bad_argument", "%s: a window of %d points is too long; use a coarser step (lower maxDataPoints)", e.s, points)
	}
	sub := *ec
	sub.sketches = true
	if ec.step != 0 {
		sub.from = ec.from - int64(points)*step
		if sub.from < 0 {
			return nil, badf("bad_argument", "%s: the window reaches before 1970", e.s)
		}
	}
	list, err := sub.eval(e.args[0])
	if err != nil {
		return nil, err
	}
	base, _, _ := ec.grid()
	for _, s := range list {
		if s.cnst {
			continue
		}
		skip := 0
		if ec.step != 0 && s.step == step && s.start < base {
			skip = int((base - s.start) / step)
		}
		if err := ec.charge(len(s.values) * min(points, len(s.values))); err != nil {
			return nil, err
		}
		vals, err := windowValues(e, s, points, skip, fn, xff)
		if err != nil {
			return nil, err
		}
		s.start += int64(skip) * s.step
		s.values = vals
		name := e.s + "(" + s.name + "," + winText
		if e.s == "movingWindow" {
			name += ",'" + fn + "'"
		}
		derive(s, name+")")
	}
	return list, nil
}

// windowValues computes each point from skip on over the points points ending at it.
func windowValues(e *expr, s *tseries, points, skip int, fn string, xff float64) ([]float64, error) {
	merge := !s.stat.count && (fn == "average" || fn == "avg" || fn == "median" || fn == "merge")
	if !s.stat.count && !merge && fn != "min" && fn != "max" && fn != "last" {
		return nil, badf("not_summable", "%s: %q over %s adds percentiles, which cannot be added; use 'merge' (or 'average', which merges on percentiles), 'min', 'max' or 'last'", e.s, fn, s.name)
	}
	if merge && s.sketches == nil {
		return nil, badf("bad_argument", "%s merges the sketches of a percentile's window, and %q was computed from numbers; apply %s to the path (or mergeSeries/groupByNode of one) first", e.s, s.name, e.s)
	}
	out := make([]float64, 0, len(s.values)-min(skip, len(s.values)))
	var win []float64
	for i := skip; i < len(s.values); i++ {
		lo := max(0, i-points+1)
		win = win[:0]
		for _, v := range s.values[lo : i+1] {
			if !math.IsNaN(v) {
				win = append(win, v)
			}
		}
		if len(win) == 0 || float64(len(win)) < xff*float64(points) {
			out = append(out, math.NaN())
			continue
		}
		if merge {
			v, err := mergedValue(s, s.sketches[lo:i+1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.s, err)
			}
			out = append(out, v)
			continue
		}
		out = append(out, aggregate(fn, win))
	}
	return out, nil
}

// mergedValue merges the window's sketches into a new one (the stored ones are shared
// with the query cache) and reads the series' percentile from it.
func mergedValue(s *tseries, window []*ddsketch.DDSketch) (float64, error) {
	m := sketch.New()
	for _, k := range window {
		if k == nil {
			continue
		}
		if err := m.MergeWith(k); err != nil {
			return 0, fmt.Errorf("merge window of %s: %w", s.name, err)
		}
	}
	if m.IsEmpty() {
		return math.NaN(), nil
	}
	return s.stat.value(m), nil
}

// aggregate reduces the window's values (no gaps among them, at least one).
func aggregate(fn string, w []float64) float64 {
	switch fn {
	case "sum", "merge":
		t := 0.0
		for _, v := range w {
			t += v
		}
		return t
	case "min":
		return slices.Min(w)
	case "max":
		return slices.Max(w)
	case "last":
		return w[len(w)-1]
	case "median":
		s := slices.Clone(w)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	t := 0.0
	for _, v := range w {
		t += v
	}
	return t / float64(len(w))
}
