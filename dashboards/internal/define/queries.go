package define

import (
	"fmt"
	"strconv"
	"strings"
)

// target is one rendered query.
type target struct {
	refID   string
	text    string // Graphite target or PromQL expression
	legend  string // Prometheus legendFormat
	instant bool   // Prometheus: one value at the end of the range
}

// refID names the i-th target of a panel: A, B, C…
func refID(i int) string { return string(rune('A' + i)) }

// metricPrefix is the legend prefix naming the selected metric, so that the panel's unit
// override can tell CLS (no unit) from the timings (ms).
func metricPrefix(b Backend) string {
	if b == Graphite {
		return "$metric "
	}
	return "${metric:text} "
}

// --- Graphite ---

func graphitePath(q Query) string {
	nodes := []string{"rumd", graphiteView(q.View)}
	for _, d := range canonical(q.View) {
		if v, ok := q.Filter[d]; ok {
			nodes = append(nodes, "$"+v)
		} else {
			nodes = append(nodes, "*")
		}
	}
	stats := q.Stats[0]
	if len(q.Stats) > 1 {
		stats = "{" + strings.Join(q.Stats, ",") + "}"
	}
	return strings.Join(append(nodes, q.Metric, stats), ".")
}

// graphiteNode is the path node index of dimension d in view dims.
func graphiteNode(dims []string, d string) int {
	for i, x := range canonical(dims) {
		if x == d {
			return 2 + i
		}
	}
	panic(fmt.Sprintf("define: %s is not in view %v", d, dims))
}

// graphiteMerged is q's series before any naming: merged over the unfiltered dimensions.
func graphiteMerged(q Query) string {
	t := "mergeSeries(" + graphitePath(q) + ")"
	if q.Shift != "" {
		t = "timeShift(" + t + ", '$" + q.Shift + "')"
	}
	return t
}

func graphiteTarget(q Query) string {
	var t string
	prefix := ""
	if q.Metric == "$metric" {
		prefix = metricPrefix(Graphite)
	}
	if len(q.By) == 0 {
		t = graphiteMerged(q)
		if len(q.Stats) > 1 {
			t = "aliasByTags(" + t + ", 'stat')"
		} else {
			t = "alias(" + t + ", '" + prefix + q.Name + "')"
		}
	} else {
		fn := "merge"
		if q.count() {
			fn = "sum"
		}
		var nodes []string
		for _, d := range canonical(q.By) {
			nodes = append(nodes, strconv.Itoa(graphiteNode(q.View, d)))
		}
		if len(q.Stats) > 1 {
			nodes = append(nodes, strconv.Itoa(3+len(q.View)))
		}
		if len(nodes) == 1 {
			t = "groupByNode(" + graphitePath(q) + ", " + nodes[0] + ", '" + fn + "')"
		} else {
			t = "groupByNodes(" + graphitePath(q) + ", '" + fn + "', " + strings.Join(nodes, ", ") + ")"
		}
		if prefix != "" {
			t = "aliasSub(" + t + ", '^', '" + prefix + "')"
		}
	}
	if q.Top > 0 {
		t = "highestMax(" + t + ", " + strconv.Itoa(q.Top) + ")"
	}
	if q.Sort {
		t = "sortByMaxima(" + t + ")"
	}
	return t
}

func graphiteTargets(p Panel) []target {
	if p.Compare {
		return []target{{refID: "A", text: "comparePercentiles(" + graphiteMerged(p.Queries[0]) + ", " + graphiteMerged(p.Queries[1]) + ", true)"}}
	}
	var out []target
	for _, q := range p.Queries {
		out = append(out, target{refID: refID(len(out)), text: graphiteTarget(q)})
	}
	return out
}

// --- Prometheus ---

// quantile is the histogram_quantile argument of a statistic.
func quantile(stat string) string {
	if stat == "$stat" {
		return stat
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimPrefix(stat, "p"), "_", "."), 64)
	if err != nil {
		panic("define: statistic " + stat)
	}
	return strconv.FormatFloat(f/100, 'f', -1, 64)
}

func promSelector(q Query, multi map[string]bool) string {
	family := "$metric"
	if q.Metric != "$metric" {
		family = FamilyName(q.Metric)
	}
	m := []string{`view="` + ViewLabel(q.View) + `"`}
	for _, d := range canonical(q.View) {
		if v, ok := q.Filter[d]; ok && multi[v] {
			m = append(m, d+`=~"$`+v+`"`) // Grafana writes a multi-value selection as a regex
		} else if ok {
			m = append(m, d+`="$`+v+`"`)
		}
	}
	return family + "{" + strings.Join(m, ", ") + "}"
}

// promSum is q's histograms summed by its By dimensions: rated per second over
// $__rate_interval, or over the whole range ($__range) for one value.
func promSum(q Query, wholeRange bool, multi map[string]bool) string {
	fn, win := "rate", "$__rate_interval"
	if wholeRange {
		win = "$__range"
		if q.count() {
			fn = "increase"
		}
	}
	inner := fn + "(" + promSelector(q, multi) + "[" + win + "]"
	if q.Shift != "" {
		inner += " offset $" + q.Shift
	}
	inner += ")"
	if len(q.By) == 0 {
		return "sum(" + inner + ")"
	}
	return "sum by (" + strings.Join(canonical(q.By), ", ") + ") (" + inner + ")"
}

func promExpr(q Query, stat string, wholeRange bool, multi map[string]bool) string {
	var e string
	if stat == "count" {
		e = "histogram_count(" + promSum(q, wholeRange, multi) + ")"
	} else {
		e = "histogram_quantile(" + quantile(stat) + ", " + promSum(q, wholeRange, multi) + ")"
	}
	if q.Top > 0 {
		e = "topk(" + strconv.Itoa(q.Top) + ", " + e + ")"
	}
	if q.Sort {
		e = "sort_desc(" + e + ")"
	}
	return e
}

func promLegend(q Query, stat string) string {
	var parts []string
	for _, d := range canonical(q.By) {
		parts = append(parts, "{{"+d+"}}")
	}
	if len(q.By) == 0 && len(q.Stats) == 1 {
		parts = append(parts, promText(q.Name))
	}
	if len(q.Stats) > 1 {
		parts = append(parts, stat)
	}
	l := strings.Join(parts, " ")
	if q.Metric == "$metric" {
		l = metricPrefix(Prometheus) + l
	}
	return l
}

func promTargets(p Panel, multi map[string]bool) []target {
	var out []target
	add := func(expr, legend string) {
		out = append(out, target{refID: refID(len(out)), text: expr, legend: legend, instant: p.WholeRange})
	}
	if p.Compare {
		a, b := p.Queries[0], p.Queries[1]
		ea, eb := promExpr(a, a.Stats[0], true, multi), promExpr(b, b.Stats[0], true, multi)
		add(ea, "a: "+promText(a.Name))
		add(eb, "b: "+promText(b.Name))
		add(eb+" - "+ea, "b − a")
		return out
	}
	for _, q := range p.Queries {
		for _, s := range q.Stats {
			add(promExpr(q, s, p.WholeRange, multi), promLegend(q, s))
		}
	}
	return out
}

// promText rewrites a title or legend for the Prometheus set, whose metric and statistic
// variables carry family names and quantiles as values and the readable names as text.
func promText(s string) string {
	s = strings.ReplaceAll(s, "$metric", "${metric:text}")
	return strings.ReplaceAll(s, "$stat", "${stat:text}")
}
