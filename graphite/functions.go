package graphite

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"rumd/query"
)

// funcParam describes one parameter for /functions, in the shape graphite-web publishes and
// Grafana's query editor reads.
type funcParam struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Multiple bool     `json:"multiple,omitempty"`
	Default  any      `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// callbacks are the aggregations a grouping function accepts.
var callbacks = []string{"merge", "sum"}

// function is one supported render function.
type function struct {
	Name        string      `json:"name"`
	Group       string      `json:"group"`
	Module      string      `json:"module"`
	Description string      `json:"description"`
	Params      []funcParam `json:"params"`
	call        func(ec *evalCtx, e *expr) ([]*tseries, error)
}

var seriesListParam = funcParam{Name: "seriesList", Type: "seriesList", Required: true}

// functions is everything rumd's render API evaluates; /functions lists exactly these.
var functions = map[string]*function{}

func init() {
	for _, f := range []*function{
		{Name: "alias", Group: "Alias", Description: "Names every series newName.",
			Params: []funcParam{seriesListParam, {Name: "newName", Type: "string", Required: true}}, call: fnAlias},
		{Name: "aliasByNode", Group: "Alias", Description: "Names each series by the given nodes of its path (0-based, negative from the end), joined by dots. Dimension nodes are shown decoded.",
			Params: []funcParam{seriesListParam, {Name: "nodes", Type: "nodeOrTag", Required: true, Multiple: true}}, call: fnAliasByNode},
		{Name: "aliasByTags", Group: "Alias", Description: "Names each series by the values of the given tags (page, country, device, nav, variant, probe, name, stat) or path nodes, joined by dots.",
			Params: []funcParam{seriesListParam, {Name: "tags", Type: "nodeOrTag", Required: true, Multiple: true}}, call: fnAliasByTags},
		{Name: "aliasSub", Group: "Alias", Description: "Runs a regular expression replacement on each series name; \\1 refers to a group.",
			Params: []funcParam{seriesListParam, {Name: "search", Type: "string", Required: true}, {Name: "replace", Type: "string", Required: true}}, call: fnAliasSub},
		{Name: "constantLine", Group: "Special", Description: "A horizontal line at value.",
			Params: []funcParam{{Name: "value", Type: "float", Required: true}}, call: fnConstantLine},
		{Name: "timeShift", Group: "Transform", Description: "Draws the series as they were timeShift ago (\"1d\", \"7d\", \"-1w\"; no sign means the past), for before/after overlays.",
			Params: []funcParam{seriesListParam, {Name: "timeShift", Type: "interval", Required: true}, {Name: "resetEnd", Type: "boolean", Default: true}, {Name: "alignDST", Type: "boolean", Default: false}}, call: fnTimeShift},
		{Name: "sumSeries", Group: "Combine", Description: "Adds series point by point. Only counts can be added: a percentile of a sum of groups is read from a view holding fewer dimensions, never by adding percentiles.",
			Params: []funcParam{{Name: "seriesLists", Type: "seriesList", Required: true, Multiple: true}}, call: fnSumSeries},
		{Name: "sortByMaxima", Group: "Sorting", Description: "Sorts the series by their largest value, largest first.",
			Params: []funcParam{seriesListParam}, call: fnSortByMaxima},
		{Name: "highestMax", Group: "Filter Series", Description: "Keeps the n series with the largest maximum, largest first.",
			Params: []funcParam{seriesListParam, {Name: "n", Type: "integer", Default: 1}}, call: fnHighestMax},
		{Name: "limit", Group: "Filter Series", Description: "Keeps the first n series.",
			Params: []funcParam{seriesListParam, {Name: "n", Type: "integer", Required: true}}, call: fnLimit},
		{Name: "mergeSeries", Group: "Combine", Description: "One series per metric and statistic, read from the sketches of every series the path (or seriesByTag) matches, merged per step: the percentile of the whole selection, e.g. mergeSeries(rumd.page_country.$page.$country.lcp.p75) for a Grafana 'All'. A dimension node of * is merged over; a value or {a,b} filters.",
			Params: []funcParam{seriesListParam}, call: fnMergeSeries},
		{Name: "groupByNode", Group: "Combine", Description: "One series per value of a path node, the sketches of the rest merged per step (callback 'merge', or 'sum' for counts; percentiles are never averaged). Named by the node's value.",
			Params: []funcParam{seriesListParam, {Name: "nodeNum", Type: "node", Required: true}, {Name: "callback", Type: "aggFunc", Default: "merge", Options: callbacks}}, call: fnGroupByNode},
		{Name: "groupByNodes", Group: "Combine", Description: "groupByNode for several nodes, named by their values joined by dots.",
			Params: []funcParam{seriesListParam, {Name: "callback", Type: "aggFunc", Required: true, Options: callbacks}, {Name: "nodes", Type: "node", Multiple: true}}, call: fnGroupByNodes},
		{Name: "groupByTags", Group: "Combine", Description: "One series per combination of the given tags' values, the sketches of the rest merged per step (callback 'merge', or 'sum' for counts).",
			Params: []funcParam{seriesListParam, {Name: "callback", Type: "aggFunc", Required: true, Options: callbacks}, {Name: "tags", Type: "tag", Multiple: true}}, call: fnGroupByTags},
		{Name: "comparePercentiles", Group: "Combine", Description: "The verdict of /api/v1/compare for one percentile: merges every sketch of seriesListA over the whole range (all its series and steps), likewise seriesListB, and compares them with a 95% confidence interval. Answers one point at the start of the range: a series named by the verdict (\"b is slower at p75 by 42 ms (95% CI 31 to 53 ms)\", \"no detectable difference at p75 (…)\") whose value is the delta b − a; with details, also '<metric> <stat> a', '… b', '… ci_low' and '… ci_high'. Each side must read one percentile of one metric from one view, e.g. comparePercentiles(timeShift(mergeSeries(rumd.country.*.lcp.p75), '7d'), mergeSeries(rumd.country.*.lcp.p75), true).",
			Params: []funcParam{{Name: "seriesListA", Type: "seriesList", Required: true}, {Name: "seriesListB", Type: "seriesList", Required: true}, {Name: "details", Type: "boolean", Default: false}}, call: fnComparePercentiles},
		{Name: "seriesByTag", Group: "Special", Description: "Tagged series: 'name=<metric>', 'stat=p95', and dimensions (page, country, device, nav, variant, probe) with =, !=, =~ and !=~.",
			Params: []funcParam{{Name: "tagExpressions", Type: "string", Required: true, Multiple: true}}, call: func(ec *evalCtx, e *expr) ([]*tseries, error) { return ec.fetchTagged(e, nil) }},
	} {
		f.Module = "rumd"
		functions[f.Name] = f
	}
}

func functionNames() []string {
	out := make([]string, 0, len(functions))
	for n := range functions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// args checks a call's arity.
func args(e *expr, min, max int) error {
	if len(e.args) < min || (max >= 0 && len(e.args) > max) {
		want := strconv.Itoa(min)
		if max < 0 {
			want = "at least " + want
		} else if max != min {
			want += " to " + strconv.Itoa(max)
		}
		return badf("bad_argument", "%s takes %s arguments, got %d in %s", e.s, want, len(e.args), e.text)
	}
	return nil
}

func stringArg(e *expr, i int) (string, error) {
	a := e.args[i]
	if a.kind != kString {
		return "", badf("bad_argument", "argument %d of %s must be a quoted string, got %s", i+1, e.s, a.text)
	}
	return a.s, nil
}

func intArg(e *expr, i int) (int, error) {
	a := e.args[i]
	if a.kind != kNumber || a.num != math.Trunc(a.num) || math.Abs(a.num) > 1e6 {
		return 0, badf("bad_argument", "argument %d of %s must be an integer, got %s", i+1, e.s, a.text)
	}
	return int(a.num), nil
}

func firstList(ec *evalCtx, e *expr) ([]*tseries, error) {
	if len(e.args) == 0 {
		return nil, badf("bad_argument", "%s needs a series list", e.s)
	}
	return ec.eval(e.args[0])
}

func fnAlias(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 2); err != nil {
		return nil, err
	}
	name, err := stringArg(e, 1)
	if err != nil {
		return nil, err
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		s.name = name
	}
	return list, err
}

// pythonRepl turns a Python replacement (\1, \g<1>) into Go's ${1}.
var pythonGroup = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

func pythonRepl(r string) string {
	r = strings.ReplaceAll(r, "$", "$$")
	return pythonGroup.ReplaceAllStringFunc(r, func(m string) string {
		sm := pythonGroup.FindStringSubmatch(m)
		if sm[1] != "" {
			return "${" + sm[1] + "}"
		}
		return "${" + sm[2] + "}"
	})
}

func fnAliasSub(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 3, 3); err != nil {
		return nil, err
	}
	search, err := stringArg(e, 1)
	if err != nil {
		return nil, err
	}
	replace, err := stringArg(e, 2)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(search)
	if err != nil {
		return nil, badf("bad_argument", "aliasSub: %v", err)
	}
	repl := pythonRepl(replace)
	list, err := firstList(ec, e)
	for _, s := range list {
		s.name = re.ReplaceAllString(s.name, repl)
	}
	return list, err
}

// pathOf returns the path inside a series name that functions may have wrapped, as
// graphite-web does: the first run of path characters after the last "(".
func pathOf(name string) string {
	if i := strings.LastIndexByte(name, '('); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexAny(name, ",) "); i >= 0 {
		name = name[:i]
	}
	return name
}

// nodeAt returns node i of a name's path, decoded when it is a dimension value of a rumd path.
func (h *handler) nodeAt(s *tseries, i int) string {
	nodes := strings.Split(pathOf(s.name), ".")
	if i < 0 {
		i += len(nodes)
	}
	if i < 0 || i >= len(nodes) {
		return ""
	}
	if i >= 2 && len(nodes) >= 4 && nodes[0] == h.opts.Prefix && i < len(nodes)-2 {
		if v, err := DecodeNode(nodes[i]); err == nil {
			return v
		}
	}
	return nodes[i]
}

func fnAliasByNode(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, -1); err != nil {
		return nil, err
	}
	var idx []int
	for i := 1; i < len(e.args); i++ {
		n, err := intArg(e, i)
		if err != nil {
			return nil, err
		}
		idx = append(idx, n)
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		parts := make([]string, len(idx))
		for j, n := range idx {
			parts[j] = ec.h.nodeAt(s, n)
		}
		s.name = strings.Join(parts, ".")
	}
	return list, err
}

func fnAliasByTags(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, -1); err != nil {
		return nil, err
	}
	for i := 1; i < len(e.args); i++ {
		if k := e.args[i].kind; k != kString && k != kNumber && k != kPath {
			return nil, badf("bad_argument", "aliasByTags takes tag names or node numbers, got %s", e.args[i].text)
		}
	}
	list, err := firstList(ec, e)
	for _, s := range list {
		parts := make([]string, 0, len(e.args)-1)
		for _, a := range e.args[1:] {
			if a.kind == kNumber {
				parts = append(parts, ec.h.nodeAt(s, int(a.num)))
				continue
			}
			parts = append(parts, s.tags[a.s])
		}
		s.name = strings.Join(parts, ".")
	}
	return list, err
}

func fnConstantLine(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 1); err != nil {
		return nil, err
	}
	a := e.args[0]
	if a.kind != kNumber {
		return nil, badf("bad_argument", "constantLine takes a number, got %s", a.text)
	}
	step := (ec.until - ec.from) / 2
	if step < 1 {
		step = 1
	}
	name := a.text
	return []*tseries{{name: name, expr: name, tags: map[string]string{"name": name}, cnst: true,
		start: ec.from, step: step, values: []float64{a.num, a.num, a.num}}}, nil
}

func fnTimeShift(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 4); err != nil {
		return nil, err
	}
	shift, err := stringArg(e, 1)
	if err != nil {
		return nil, err
	}
	d, err := query.ParseShift(shift)
	if err != nil {
		return nil, badf("bad_argument", "timeShift: %v", err)
	}
	if d > 10*365*24*time.Hour || d < -10*365*24*time.Hour {
		return nil, badf("bad_argument", "timeShift %q is more than 10 years", shift)
	}
	delta := int64(d / time.Second)
	sub := *ec
	sub.from, sub.until = ec.from+delta, ec.until+delta
	if sub.from < 0 {
		return nil, badf("bad_argument", "timeShift %q reaches before 1970", shift)
	}
	// The past may be kept only at a coarser resolution: its steps grow to it.
	if res := ec.h.resolution(sub.from); sub.step != 0 && sub.step < res {
		sub.step = res
	} else if sub.step > 86400 {
		sub.step = ceilTo(sub.step, 86400)
	}
	list, err := sub.eval(e.args[0])
	if err != nil {
		return nil, err
	}
	sign := shift
	if sign[0] != '-' && sign[0] != '+' {
		sign = "-" + sign
	}
	for _, s := range list {
		s.start -= delta
		s.name = "timeShift(" + s.name + ", \"" + sign + "\")"
		tags := make(map[string]string, len(s.tags)+1)
		for k, v := range s.tags {
			tags[k] = v
		}
		tags["timeShift"] = sign
		s.tags = tags
	}
	return list, nil
}

func fnSumSeries(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, -1); err != nil {
		return nil, err
	}
	var all []*tseries
	var exprs []string
	seen := map[string]bool{}
	for _, a := range e.args {
		list, err := ec.eval(a)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if !s.stat.count {
				what := s.stat.name
				if s.cnst {
					what = "a constant line"
				}
				return nil, badf("not_summable", "sumSeries adds counts only, and %s is %s: percentiles cannot be added. For the percentile of several series use mergeSeries(<path>) or groupByNode(<path>, <node>, 'merge'), which merge their sketches", s.name, what)
			}
			if !seen[s.expr] {
				seen[s.expr] = true
				exprs = append(exprs, s.expr)
			}
		}
		all = append(all, list...)
	}
	if len(all) == 0 {
		return nil, nil
	}
	step := all[0].step
	lo, hi := all[0].start, all[0].start
	for _, s := range all {
		if s.step != step {
			return nil, badf("not_summable", "sumSeries: series have different steps")
		}
		lo = min(lo, s.start)
		hi = max(hi, s.start+int64(len(s.values))*step)
	}
	vals := make([]float64, (hi-lo)/step)
	for i := range vals {
		vals[i] = math.NaN()
	}
	for _, s := range all {
		off := (s.start - lo) / step
		for i, v := range s.values {
			if math.IsNaN(v) {
				continue
			}
			if j := off + int64(i); j >= 0 && j < int64(len(vals)) {
				if math.IsNaN(vals[j]) {
					vals[j] = 0
				}
				vals[j] += v
			}
		}
	}
	name := "sumSeries(" + strings.Join(exprs, ",") + ")"
	tags := map[string]string{"name": name, "stat": "count"}
	metric := all[0].metricName()
	for _, s := range all {
		if s.metricName() != metric {
			metric = ""
		}
	}
	if metric != "" {
		tags["metric"] = metric
	}
	return []*tseries{{name: name, expr: name, tags: tags,
		stat: all[0].stat, start: lo, step: step, values: vals}}, nil
}

func sortByMax(list []*tseries) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].max(), list[j].max()
		if math.IsNaN(b) {
			return !math.IsNaN(a)
		}
		return a > b
	})
}

func fnSortByMaxima(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 1); err != nil {
		return nil, err
	}
	list, err := firstList(ec, e)
	sortByMax(list)
	return list, err
}

func fnHighestMax(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 2); err != nil {
		return nil, err
	}
	n := 1
	if len(e.args) == 2 {
		var err error
		if n, err = intArg(e, 1); err != nil {
			return nil, err
		}
	}
	list, err := firstList(ec, e)
	if err != nil {
		return nil, err
	}
	sortByMax(list)
	if n >= 0 && n < len(list) {
		list = list[:n]
	}
	return list, nil
}

func fnLimit(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 2); err != nil {
		return nil, err
	}
	n, err := intArg(e, 1)
	if err != nil {
		return nil, err
	}
	list, err := firstList(ec, e)
	if err != nil {
		return nil, err
	}
	if n >= 0 && n < len(list) {
		list = list[:n]
	}
	return list, nil
}

// groupArg evaluates the series argument of a grouping function, which must be a path or
// seriesByTag: grouping re-plans the query so that sketches, not numbers, are merged.
func (ec *evalCtx) groupArg(e *expr, a *expr, g *grouping) ([]*tseries, error) {
	switch {
	case a.kind == kPath:
		return ec.fetchPath(a.s, g)
	case a.kind == kCall && a.s == "seriesByTag":
		return ec.fetchTagged(a, g)
	}
	return nil, badf("bad_argument", "%s takes a path or seriesByTag(...), whose sketches it merges; got %s", e.s, a.text)
}

// checkCallback accepts the aggregation of a grouping function: "merge" (sketches merged per
// step, the default), or "sum" where every series is a count.
func checkCallback(e *expr, cb string, list []*tseries) error {
	switch cb {
	case "", "merge":
		return nil
	case "sum":
		for _, s := range list {
			if !s.stat.count {
				return badf("not_summable", "%s: %q adds counts only, and %s is %s; use 'merge', which merges the sketches and reads the percentile of the whole group", e.s, cb, s.name, s.stat.name)
			}
		}
		return nil
	}
	return badf("bad_argument", "%s: callback %q is not supported: rumd merges the sketches of a group ('merge', or 'sum' for counts) and never averages percentiles", e.s, cb)
}

func fnMergeSeries(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 1, 1); err != nil {
		return nil, err
	}
	return ec.groupArg(e, e.args[0], &grouping{fn: "mergeSeries"})
}

func fnGroupByNode(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, 3); err != nil {
		return nil, err
	}
	n, err := intArg(e, 1)
	if err != nil {
		return nil, err
	}
	cb := ""
	if len(e.args) == 3 {
		if cb, err = stringArg(e, 2); err != nil {
			return nil, err
		}
	}
	list, err := ec.groupArg(e, e.args[0], &grouping{fn: e.s, nodes: []int{n}})
	if err != nil {
		return nil, err
	}
	return list, checkCallback(e, cb, list)
}

func fnGroupByNodes(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, -1); err != nil {
		return nil, err
	}
	cb, err := stringArg(e, 1)
	if err != nil {
		return nil, err
	}
	g := &grouping{fn: e.s}
	for i := 2; i < len(e.args); i++ {
		n, err := intArg(e, i)
		if err != nil {
			return nil, err
		}
		g.nodes = append(g.nodes, n)
	}
	list, err := ec.groupArg(e, e.args[0], g)
	if err != nil {
		return nil, err
	}
	return list, checkCallback(e, cb, list)
}

func fnGroupByTags(ec *evalCtx, e *expr) ([]*tseries, error) {
	if err := args(e, 2, -1); err != nil {
		return nil, err
	}
	cb, err := stringArg(e, 1)
	if err != nil {
		return nil, err
	}
	g := &grouping{fn: e.s}
	for i := 2; i < len(e.args); i++ {
		t, err := stringArg(e, i)
		if err != nil {
			return nil, err
		}
		g.tags = append(g.tags, t)
	}
	list, err := ec.groupArg(e, e.args[0], g)
	if err != nil {
		return nil, err
	}
	return list, checkCallback(e, cb, list)
}
