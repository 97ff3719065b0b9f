// Package define holds rumd's Grafana dashboards as one definition (panels, titles, units,
// thresholds, variables) and renders it twice: for the Graphite data source that reads rumd's
// Graphite-compatible API, and for a Prometheus data source that reads the native-histogram
// families rumd exposes (docs/dashboards.md). `go generate ./dashboards` writes both sets;
// a test in package dashboards fails when the committed files differ from Build's output.
package define

import (
	"fmt"
	"strings"

	"rumd/internal/series"
)

// Backend is the data source a rendering targets.
type Backend int

// The two renderings.
const (
	Graphite Backend = iota
	Prometheus
)

// Provisioned data-source uids: the panels read them through the dashboard's data-source
// variable, which defaults to them.
const (
	GraphiteUID   = "rumd"
	PrometheusUID = "rumd-prometheus"
)

// FamilyName is the Prometheus family of a metric: rumd_<metric>_milliseconds for timings,
// rumd_cls for the unitless layout shift. Every PromQL name of the Prometheus set comes from
// here; it follows the exposition's naming (docs/dashboards.md).
func FamilyName(metric string) string {
	m, ok := series.ParseMetric(metric)
	if !ok {
		panic("define: unknown metric " + metric)
	}
	if m.Unit() == "ms" {
		return "rumd_" + m.String() + "_milliseconds"
	}
	return "rumd_" + m.String()
}

// ViewLabel is the value of the families' view label for a view of the given dimensions:
// the view as written in configuration, "total" for none, else the dimensions in canonical
// order joined by commas ("page,country").
func ViewLabel(dims []string) string {
	v, err := series.ParseView(dims)
	if err != nil {
		panic("define: " + err.Error())
	}
	return v.String()
}

// graphiteView is the Graphite path node of a view: dimensions joined by underscores.
func graphiteView(dims []string) string {
	if len(dims) == 0 {
		return "total"
	}
	return strings.Join(canonical(dims), "_")
}

// canonical orders dimension names as package series does.
func canonical(dims []string) []string {
	var out []string
	for _, d := range series.DimNames() {
		for _, x := range dims {
			if x == d {
				out = append(out, d)
			}
		}
	}
	if len(out) != len(dims) {
		panic(fmt.Sprintf("define: unknown dimension in %v", dims))
	}
	return out
}

// vital is a web-vitals threshold pair (good up to, poor from), per web.dev.
type vital struct{ good, poor float64 }

// Vitals are the web.dev thresholds; every panel of one of these metrics carries them.
var Vitals = map[string]vital{
	"lcp":  {2500, 4000},
	"inp":  {200, 500},
	"cls":  {0.1, 0.25},
	"fcp":  {1800, 3000},
	"ttfb": {800, 1800},
}

const thresholdsNote = "Thresholds: good / needs improvement / poor per web.dev: LCP 2500/4000 ms, INP 200/500 ms, CLS 0.1/0.25, FCP 1800/3000 ms, TTFB 800/1800 ms."

// Dashboard is one dashboard of both sets.
type Dashboard struct {
	File        string // file name in both sets
	UID         string // Graphite set; the Prometheus set prefixes "prom-"
	Title       string // Graphite set; the Prometheus set appends " (Prometheus)"
	Description string
	From        string // time range start, e.g. now-6h
	Vars        []Var
	Panels      []Panel
}

// VarKind is how a variable gets its options.
type VarKind int

// Variable kinds.
const (
	Custom VarKind = iota // a fixed list
	Values                // the values a dimension takes in a view
)

// Var is a template variable.
type Var struct {
	Name, Label string
	Kind        VarKind
	Options     []string // Custom: option texts; the first is the default unless Default is set
	Default     string
	Dim         string   // Values: the dimension listed
	View        []string // Values: the view listed
	Metric      string   // Values: the metric whose series are listed (Prometheus)
	All         bool     // Values: multi-select with an All option (every value)
	Exclude     string   // Values: leave out the current value of this variable
}

// Metric variables: their options are metric names; Prometheus values are family names.
// Stat variables: options are p75, p50…; Prometheus values are quantiles (0.75).
func (v Var) isMetric() bool { return v.Kind == Custom && v.Name == "metric" }
func (v Var) isStat() bool   { return v.Kind == Custom && v.Name == "stat" }

// PanelKind is a Grafana panel type.
type PanelKind string

// Panel types used.
const (
	Row        PanelKind = "row"
	Stat       PanelKind = "stat"
	TimeSeries PanelKind = "timeseries"
	BarGauge   PanelKind = "bargauge"
	PieChart   PanelKind = "piechart"
	Table      PanelKind = "table"
	GeoMap     PanelKind = "geomap"
)

// Panel is one panel. Its unit and thresholds follow Metric: a vital gets its web.dev
// thresholds, CLS no unit, "$metric" a unit per selected metric, "count" a plain number.
type Panel struct {
	Kind        PanelKind
	Title       string // "{per}" becomes "per step" (Graphite) or "per second" (Prometheus)
	Description string
	X, Y, W, H  int
	Metric      string  // the metric shown: a name, "$metric", or "count"
	WholeRange  bool    // one value over the whole time range (Graphite maxDataPoints 1, PromQL over $__range)
	Queries     []Query // one target each; a Compare panel has exactly two: a and b
	Compare     bool    // a verdict of b against a at one percentile
	Bars        bool    // a time series drawn as bars
	DashedB     bool    // the second target drawn dashed (a time shift)
}

// Query is one target: a metric read from one view, filtered by variables, one series per
// value of By (or one merged series), one per statistic of Stats.
type Query struct {
	Metric string            // a metric name or "$metric"
	Stats  []string          // p50…, "$stat", or "count"
	View   []string          // dimensions of the view read
	Filter map[string]string // dimension → variable filtering it; the others are merged
	By     []string          // dimensions giving one series per value
	Name   string            // legend of a single merged series
	Shift  string            // variable holding a time shift back (e.g. 7d)
	Top    int               // keep the Top series with the largest maximum
	Sort   bool              // sort series by their maximum, largest first
}

func (q Query) count() bool { return len(q.Stats) == 1 && q.Stats[0] == "count" }
