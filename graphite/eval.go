package graphite

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/query"
)

// tseries is one series of a render answer: values at start, start+step, ...; NaN is null.
type tseries struct {
	name   string
	expr   string // the path expression it was fetched by, for sumSeries' name
	tags   map[string]string
	stat   stat
	cnst   bool   // a constantLine: neither a count nor a percentile
	color  string // the colour a graph draws it in (threshold's); "" takes the next of colorList
	start  int64
	step   int64
	values []float64
	// sketches are the merged sketch behind each value (nil where nothing was seen), kept
	// when evalCtx.sketches asks, so that comparePercentiles merges a side's sketches rather
	// than its numbers; nil for a series computed from numbers (sumSeries, constantLine,
	// comparePercentiles).
	sketches []*ddsketch.DDSketch
	view     string // the view the series was read from, with sketches
	// path is the rumd path a series was fetched under when it is named by it (one series
	// of a path, not a merge or group), for legend to show it decoded while it keeps that
	// name.
	path string
	// asked is the range the series was asked over (shifted, under timeShift) and read the
	// range its points merge, widened to whole steps: comparePercentiles' windows.
	asked, read query.Window
}

// legend is the name shown to people (the JSON target Grafana puts in its legend, the
// graph's legend, CSV): a series still named by its rumd path shows its dimension nodes
// decoded, rumd.page./about.html.ttfb.p75 rather than rumd.page.~about%2Ehtml.ttfb.p75,
// as a name given by a function (alias, aliasByNode, sumSeries) is shown as given. The
// path itself stays in the tag "name", for whatever reads names back as paths; the
// empty value keeps its lone "%", which shows it is empty.
func (s *tseries) legend() string {
	if s.path == "" || s.name != s.path {
		return s.name
	}
	nodes := strings.Split(s.path, ".")
	for i := 2; i < len(nodes)-2; i++ {
		if v, err := DecodeNode(nodes[i]); err == nil && v != "" {
			nodes[i] = v
		}
	}
	return strings.Join(nodes, ".")
}

// metricName is the metric a fetched series reads, from its tags.
func (s *tseries) metricName() string {
	if m := s.tags["metric"]; m != "" {
		return m
	}
	return s.tags["name"]
}

func (s *tseries) max() float64 {
	m := math.NaN()
	for _, v := range s.values {
		if !math.IsNaN(v) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// badf is a caller's mistake, a query.Error answered with 400 and {"error", "reason"}.
func badf(reason query.Reason, format string, a ...any) error {
	return query.Errorf(reason, format, a...)
}

// evalCtx carries one render request's range and step and its query cache.
type evalCtx struct {
	ctx         context.Context
	h           *handler
	from, until int64
	step        int64
	cache       map[string]*query.Result
	points      *int // points answered so far, shared by timeShift's copies
	// sketches keeps each point's sketch in the series fetched (comparePercentiles' sides).
	sketches bool
}

// charge counts n more points against Options.MaxPoints.
func (ec *evalCtx) charge(n int) error {
	if ec.points == nil {
		ec.points = new(int)
	}
	*ec.points += n
	if *ec.points > ec.h.opts.MaxPoints {
		return badf("too_many_points", "the answer would hold more than %d points; narrow the paths (fewer wildcards) or the range, or lower maxDataPoints", ec.h.opts.MaxPoints)
	}
	return nil
}

// seriesBytes is what one answered series costs in memory besides its values: the
// struct, its name and its tags.
const seriesBytes = 768

// hold charges the memory of count series of n values to the request's budget, before
// they are built.
func (ec *evalCtx) hold(count, n int) error {
	b := query.BudgetOf(ec.ctx)
	if b == nil {
		return nil
	}
	per := seriesBytes + 8*n
	if ec.sketches {
		per += 8 * n
	}
	return b.Bytes(int64(count) * int64(per))
}

// eval evaluates a series expression.
func (ec *evalCtx) eval(e *expr) ([]*tseries, error) {
	switch e.kind {
	case kPath:
		return ec.fetchPath(e.s, nil)
	case kCall:
		f, ok := functions[e.s]
		if !ok {
			return nil, badf("unknown_function", "unknown function %q; rumd supports %s", e.s, strings.Join(functionNames(), ", "))
		}
		// A function's work is over series already read; the deadline is looked at
		// before each, so nested calls cannot run on past it.
		if err := ec.ctx.Err(); err != nil {
			return nil, err
		}
		return f.call(ec, e)
	}
	return nil, badf("bad_target", "%s is a %s, not a series", e.text, kindName(e.kind))
}

func kindName(k kind) string {
	switch k {
	case kString:
		return "string"
	case kNumber:
		return "number"
	case kBool:
		return "boolean"
	}
	return "series"
}

// run answers one query through the request's cache.
func (ec *evalCtx) run(key string, req query.Request) (*query.Result, error) {
	key = fmt.Sprintf("%s|%d|%d|%d|%d", key, req.Metric, ec.from, ec.until, ec.step)
	if r, ok := ec.cache[key]; ok {
		return r, nil
	}
	r, err := ec.h.eng.Query(ec.ctx, req)
	if err != nil {
		return nil, err
	}
	ec.cache[key] = r
	return r, nil
}

// newSeries lays a group's points, read from view, on the step grid; missing steps are
// null, or 0 for counts.
func (ec *evalCtx) newSeries(name, pathExpr, view string, tags map[string]string, st stat, pts []query.Point) *tseries {
	base, step, n := ec.grid()
	vals := make([]float64, n)
	var sketches []*ddsketch.DDSketch
	if ec.sketches {
		sketches = make([]*ddsketch.DDSketch, n)
	}
	fill := math.NaN()
	if st.count {
		fill = 0
	}
	for i := range vals {
		vals[i] = fill
	}
	for _, p := range pts {
		if i := int((p.T - base) / step); i >= 0 && i < n {
			vals[i] = st.value(p.Sketch)
			if sketches != nil {
				sketches[i] = p.Sketch
			}
		}
	}
	return &tseries{name: name, expr: pathExpr, tags: tags, stat: st, start: base, step: step, values: vals, sketches: sketches, view: view,
		asked: query.Window{From: ec.from, To: ec.until}, read: query.Window{From: base, To: base + step*int64(n)}}
}

// queryRange is what the queries read: whole steps, from the first step's start to the last
// one's end, so that every point merges its whole step (and a step older than the minute
// retention is read from whole rollups).
func (ec *evalCtx) queryRange() (from, to int64) {
	base, step, n := ec.grid()
	return base, base + step*int64(n)
}

// grid is the request's points: the first step's start, the step and their number. A step
// of 0 asks for one point over the whole range, widened to the resolution still kept there.
func (ec *evalCtx) grid() (base, step int64, n int) {
	if ec.step == 0 {
		res := ec.h.resolution(ec.from)
		base = floorTo(ec.from, res)
		return base, ceilTo(ec.until, res) - base, 1
	}
	base = floorTo(ec.from, ec.step)
	end := ceilTo(ec.until, 60)
	return base, ec.step, int((end - base + ec.step - 1) / ec.step)
}

// grouping combines fetched series by merging their sketches per step: within groups keyed
// by the given path nodes or tags, or into one group when there are none. A nil grouping
// fetches one series per series of the view.
type grouping struct {
	fn    string   // the function asked, for names: mergeSeries, groupByNode(s), groupByTags
	nodes []int    // path nodes of the key; negative counts from the end
	tags  []string // tags of the key (groupByTags)
}

// fetchPath answers a path pattern of the scheme in the package comment.
func (ec *evalCtx) fetchPath(pattern string, g *grouping) ([]*tseries, error) {
	nodes := splitPath(pattern)
	prefix := ec.h.opts.Prefix
	if len(nodes) < 4 {
		return nil, badf("bad_path", "path %q is too short: paths are %s.<view>.<dimension values>.<metric>.<statistic>, e.g. %s.total.ttfb.p75", pattern, prefix, prefix)
	}
	pg, err := compileGlob(nodes[0])
	if err != nil {
		return nil, badf("bad_path", "%v", err)
	}
	if !pg.match(prefix) {
		return nil, badf("bad_path", "path %q does not start with %s.", pattern, prefix)
	}
	vg, err := compileGlob(nodes[1])
	if err != nil {
		return nil, badf("bad_path", "%v", err)
	}
	var keyNodes []int
	if g != nil {
		for _, i := range g.nodes {
			if i < 0 {
				i += len(nodes)
			}
			if i < 0 || i >= len(nodes) {
				return nil, badf("bad_argument", "%s: node %d is outside %q", g.fn, i, pattern)
			}
			keyNodes = append(keyNodes, i)
		}
	}
	var out []*tseries
	shapes := 0
	for _, v := range ec.h.eng.Views() {
		k := len(v.Dims)
		if !vg.match(viewName(v)) || len(nodes) != 4+k {
			continue
		}
		var req query.Request
		req.From, req.To = ec.queryRange()
		req.Step = ec.step
		grouped := map[series.Dim]bool{}
		if g == nil {
			req.By = v.Dims
		} else {
			for _, i := range keyNodes {
				if i >= 2 && i < 2+k && !grouped[v.Dims[i-2]] {
					grouped[v.Dims[i-2]] = true
					req.By = append(req.By, v.Dims[i-2])
				}
			}
			sort.Slice(req.By, func(a, b int) bool { return req.By[a] < req.By[b] })
		}
		ok := true
		for i, d := range v.Dims {
			m, valid, err := nodeMatcher(nodes[2+i])
			if err != nil {
				return nil, err
			}
			if !valid {
				ok = false // a literal that is no valid encoding matches nothing
				break
			}
			req.Match[d] = m
		}
		if !ok {
			continue
		}
		mg, err := compileGlob(nodes[2+k])
		if err != nil {
			return nil, badf("bad_path", "%v", err)
		}
		stats, err := statsOf(nodes[3+k])
		if err != nil {
			return nil, err
		}
		for m := series.Metric(0); m < series.NumMetrics; m++ {
			if !v.Carries(m) || !mg.match(m.String()) {
				continue
			}
			shapes++
			req.Metric = m
			req.Values = len(stats)
			res, err := ec.run(fmt.Sprintf("p|%v|%s|%s", req.By, pattern, viewName(v)), req)
			if err != nil {
				return nil, err
			}
			_, _, n := ec.grid()
			if err := ec.charge(max(1, len(res.Groups)) * len(stats) * n); err != nil {
				return nil, err
			}
			if err := ec.hold(max(1, len(res.Groups))*len(stats), n); err != nil {
				return nil, err
			}
			groups := res.Groups
			if g != nil && len(keyNodes) == 0 && len(groups) == 0 {
				groups = []query.Group{{}} // a merge answers its series, null where nothing was seen
			}
			for gi := range groups {
				grp := &groups[gi]
				for _, st := range stats {
					var name string
					tags := map[string]string{"metric": m.String(), "stat": st.name}
					switch {
					case g == nil:
						var b strings.Builder
						b.WriteString(prefix + "." + viewName(v))
						for _, d := range v.Dims {
							b.WriteString("." + EncodeNode(grp.Labels[d]))
							tags[d.String()] = grp.Labels[d]
						}
						b.WriteString("." + m.String() + "." + st.name)
						name = b.String()
					default:
						for i, d := range v.Dims {
							switch n := nodes[2+i]; {
							case grouped[d]:
								tags[d.String()] = grp.Labels[d]
							case n == "*":
							case hasWildcard(n):
								tags[d.String()] = n
							default:
								tags[d.String()], _ = DecodeNode(n)
							}
						}
						if len(keyNodes) == 0 {
							name = g.fn + "(" + pattern + ")"
							break
						}
						key := make([]string, len(keyNodes))
						for j, i := range keyNodes {
							switch {
							case i == 0:
								key[j] = prefix
							case i == 1:
								key[j] = viewName(v)
							case i < 2+k:
								key[j] = grp.Labels[v.Dims[i-2]]
							case i == 2+k:
								key[j] = m.String()
							default:
								key[j] = st.name
							}
						}
						name = strings.Join(key, ".")
					}
					tags["name"] = name
					ts := ec.newSeries(name, pattern, viewName(v), tags, st, grp.Points)
					if g == nil {
						ts.path = name
					}
					out = append(out, ts)
				}
			}
		}
	}
	if shapes == 0 {
		return nil, badf("bad_path", "path %q matches no view and metric: paths are %s.<view>.<one node per dimension of the view>.<metric>.<statistic>; views: %s", pattern, prefix, strings.Join(ec.h.viewNames(), ", "))
	}
	if g == nil {
		sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	}
	return out, nil
}

// nodeMatcher turns a dimension node into a matcher of raw label values: nil for "*" (any
// value), and valid false for a literal that no value encodes to.
func nodeMatcher(n string) (m func(string) bool, valid bool, err error) {
	if !hasWildcard(n) {
		v, err := DecodeNode(n)
		if err != nil {
			return nil, false, nil
		}
		return query.Equal(v), true, nil
	}
	if n == "*" {
		return nil, true, nil
	}
	g, err := compileGlob(n)
	if err != nil {
		return nil, false, badf("bad_path", "%v", err)
	}
	return func(v string) bool { return g.match(EncodeNode(v)) }, true, nil
}

// statsOf reads the statistic node: a literal of any percentile, or a wildcard over the
// browsed statistics.
func statsOf(n string) ([]stat, error) {
	if !hasWildcard(n) {
		st, err := parseStat(n)
		if err != nil {
			return nil, badf("bad_path", "%v", err)
		}
		return []stat{st}, nil
	}
	g, err := compileGlob(n)
	if err != nil {
		return nil, badf("bad_path", "%v", err)
	}
	var out []stat
	for _, s := range browseStats {
		if g.match(s) {
			st, _ := parseStat(s)
			out = append(out, st)
		}
	}
	return out, nil
}

// tagExpr is one seriesByTag expression.
type tagExpr struct {
	tag   string
	op    string // =, !=, =~, !=~
	value string
	re    *regexp.Regexp
}

func parseTagExpr(s string) (tagExpr, error) {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return tagExpr{}, badf("bad_argument", "seriesByTag expression %q must look like tag=value, tag!=value, tag=~regex or tag!=~regex", s)
	}
	te := tagExpr{tag: strings.TrimSpace(s[:i]), op: "="}
	rest := s[i+1:]
	if strings.HasSuffix(te.tag, "!") {
		te.tag, te.op = strings.TrimSpace(strings.TrimSuffix(te.tag, "!")), "!="
	}
	if strings.HasPrefix(rest, "~") {
		te.op += "~"
		rest = rest[1:]
		re, err := regexp.Compile("^(?:" + rest + ")")
		if err != nil {
			return tagExpr{}, badf("bad_argument", "seriesByTag expression %q: %v", s, err)
		}
		te.re = re
	}
	te.value = rest
	return te, nil
}

func (te tagExpr) match(v string) bool {
	switch te.op {
	case "=":
		return v == te.value
	case "!=":
		return v != te.value
	case "=~":
		return te.re.MatchString(v)
	default:
		return !te.re.MatchString(v)
	}
}

// fetchTagged answers seriesByTag('name=ttfb', 'stat=p95', 'country=~D.*', ...).
func (ec *evalCtx) fetchTagged(call *expr, g *grouping) ([]*tseries, error) {
	if len(call.args) == 0 {
		return nil, badf("bad_argument", "seriesByTag needs at least one expression, e.g. seriesByTag('name=ttfb', 'stat=p75')")
	}
	var names, stats []tagExpr
	var dimExprs [series.NumDims][]tagExpr
	var filtered []series.Dim
	for _, a := range call.args {
		if a.kind != kString {
			return nil, badf("bad_argument", "seriesByTag takes quoted expressions, got %s", a.text)
		}
		te, err := parseTagExpr(a.s)
		if err != nil {
			return nil, err
		}
		switch te.tag {
		case "name", "metric":
			names = append(names, te)
		case "stat":
			stats = append(stats, te)
		default:
			d, ok := series.ParseDim(te.tag)
			if !ok {
				return nil, badf("bad_argument", "seriesByTag: unknown tag %q; tags are %s", te.tag, strings.Join(tagNames(), ", "))
			}
			if len(dimExprs[d]) == 0 {
				filtered = append(filtered, d)
			}
			dimExprs[d] = append(dimExprs[d], te)
		}
	}
	by := filtered
	if g != nil {
		by = nil
		for _, t := range g.tags {
			if t == "name" || t == "metric" || t == "stat" {
				continue // always apart
			}
			d, ok := series.ParseDim(t)
			if !ok {
				return nil, badf("bad_argument", "%s: unknown tag %q; tags are %s", g.fn, t, strings.Join(tagNames(), ", "))
			}
			if !slices.Contains(by, d) {
				by = append(by, d)
			}
		}
	}
	sort.Slice(by, func(i, j int) bool { return by[i] < by[j] })
	var req query.Request
	req.From, req.To = ec.queryRange()
	req.Step, req.By = ec.step, by
	for _, d := range filtered {
		exprs := dimExprs[d]
		req.Match[d] = func(v string) bool {
			for _, te := range exprs {
				if !te.match(v) {
					return false
				}
			}
			return true
		}
	}
	var sts []stat
	if len(stats) == 1 && stats[0].op == "=" {
		st, err := parseStat(stats[0].value)
		if err != nil {
			return nil, badf("bad_argument", "%v", err)
		}
		sts = []stat{st}
	} else {
	next:
		for _, s := range browseStats {
			for _, te := range stats {
				if !te.match(s) {
					continue next
				}
			}
			st, _ := parseStat(s)
			sts = append(sts, st)
		}
	}
	pathExpr := call.text
	var out []*tseries
	matched := 0
metrics:
	for m := series.Metric(0); m < series.NumMetrics; m++ {
		for _, te := range names {
			if !te.match(m.String()) {
				continue metrics
			}
		}
		matched++
		req.Metric = m
		req.Values = len(sts)
		res, err := ec.run(fmt.Sprintf("t|%v|%s", by, call.text), req)
		if err != nil {
			return nil, err
		}
		_, _, n := ec.grid()
		if err := ec.charge(len(res.Groups) * len(sts) * n); err != nil {
			return nil, err
		}
		if err := ec.hold(len(res.Groups)*len(sts), n); err != nil {
			return nil, err
		}
		for gi := range res.Groups {
			grp := &res.Groups[gi]
			for _, st := range sts {
				tags := map[string]string{"name": m.String(), "stat": st.name}
				for _, d := range by {
					tags[d.String()] = grp.Labels[d]
				}
				name := taggedName(tags)
				if g != nil {
					if len(by) == 0 {
						name = g.fn + "(" + call.text + ")"
					}
					// Filters of merged dimensions stay visible when they name one value.
					for _, d := range filtered {
						if ex := dimExprs[d]; !slices.Contains(by, d) && len(ex) == 1 && ex[0].op == "=" {
							tags[d.String()] = ex[0].value
						}
					}
				}
				out = append(out, ec.newSeries(name, pathExpr, viewName(res.View), tags, st, grp.Points))
			}
		}
	}
	if matched == 0 {
		return nil, badf("bad_argument", "seriesByTag: no metric matches; names are %s", strings.Join(series.MetricNames(), ", "))
	}
	return out, nil
}

// taggedName writes Graphite's name of a tagged series: name;tag=value;... with tags sorted.
func taggedName(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if k != "name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(tags["name"])
	for _, k := range keys {
		b.WriteByte(';')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(tags[k])
	}
	return b.String()
}

func tagNames() []string {
	out := append([]string{"name", "stat"}, series.DimNames()...)
	sort.Strings(out)
	return out
}

func floorTo(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

func ceilTo(t, step int64) int64 { return -floorTo(-t, step) }

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
