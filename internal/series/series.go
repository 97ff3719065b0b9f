// Package series defines rumd's series model, shared by every pipeline stage: the metrics a
// beacon yields, the dimensions they are cut by, the materialised views, and the byte
// encoding of a series' label values inside a view.
package series

import (
	"fmt"
	"strings"
)

// Metric is one measured quantity of a page view or probe.
type Metric uint8

// The metrics of docs/design.md §4. Page metrics come first; probe metrics start at ProbeDNS.
// These are in-memory positions (array indexes, bit positions); what is stored on disk is
// each metric's code in codes.go.
const (
	DNS Metric = iota
	Connect
	TLS
	TTFB
	Download
	DOMInteractive
	DCL
	Load
	FCP
	LCP
	INP
	CLS
	// A build with the rumd_extra tag slips a page metric in here, moving every probe
	// metric, to prove that stored data does not depend on these positions.
	ProbeDNS Metric = iota + extraPageMetrics
	ProbeConnect
	ProbeTLS
	ProbeTTFB
	ProbeTotal
	NumMetrics
)

// NumPageMetrics is the number of page (non-probe) metrics; they are 0..NumPageMetrics-1.
const NumPageMetrics = int(ProbeDNS)

// NumProbeMetrics is the number of probe metrics.
const NumProbeMetrics = int(NumMetrics - ProbeDNS)

// String returns the metric's API name, e.g. "ttfb".
func (m Metric) String() string {
	if m < NumMetrics {
		return byMetric[m].name
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// Unit is "ms" for timings and "" for the unitless CLS.
func (m Metric) Unit() string {
	if m == CLS {
		return ""
	}
	return "ms"
}

// IsProbe reports whether the metric comes from a probe fetch of the test page.
func (m Metric) IsProbe() bool { return m >= ProbeDNS && m < NumMetrics }

// ParseMetric maps an API name to its Metric.
func ParseMetric(s string) (Metric, bool) {
	for i, r := range byMetric {
		if r.name == s {
			return Metric(i), true
		}
	}
	return 0, false
}

// MetricNames lists every metric's API name in enum order.
func MetricNames() []string {
	out := make([]string, len(byMetric))
	for i, r := range byMetric {
		out[i] = r.name
	}
	return out
}

// Dim is a dimension a metric is cut by.
type Dim uint8

// The dimensions of docs/design.md §4, as in-memory positions; on disk each is its code in codes.go.
const (
	Page Dim = iota
	Country
	Device
	Nav
	Variant
	// A build with the rumd_extra tag adds one dimension here, moving Probe, and one after
	// Probe.
	Probe   Dim = iota + extraDimsBeforeProbe
	NumDims     = Probe + 1 + extraDimsAfterProbe
)

// String returns the dimension's API name.
func (d Dim) String() string {
	if d < NumDims {
		return byDim[d].name
	}
	return fmt.Sprintf("dim(%d)", uint8(d))
}

// ParseDim maps an API name to its Dim.
func ParseDim(s string) (Dim, bool) {
	for i, r := range byDim {
		if r.name == s {
			return Dim(i), true
		}
	}
	return 0, false
}

// DimNames lists every dimension's API name in enum order.
func DimNames() []string {
	out := make([]string, len(byDim))
	for i, r := range byDim {
		out[i] = r.name
	}
	return out
}

// Other is the value a dimension takes once its per-window cardinality cap is reached.
const Other = "__other__"

// Labels holds one value per dimension; "" means the dimension does not apply.
type Labels [NumDims]string

// Only returns the labels of the given dimensions, the others empty: a series' labels
// within a view, or a query's group.
func (l *Labels) Only(dims []Dim) Labels {
	var out Labels
	for _, d := range dims {
		out[d] = l[d]
	}
	return out
}

// Map returns the labels of the given dimensions as a map keyed by dimension name.
func (l *Labels) Map(dims []Dim) map[string]string {
	m := make(map[string]string, len(dims))
	for _, d := range dims {
		m[d.String()] = l[d]
	}
	return m
}

// Mask is a set of dimensions as a bit mask; a view's mask is its stable identity on disk.
type Mask uint8

// Has reports whether d is in the set.
func (m Mask) Has(d Dim) bool { return m&(1<<d) != 0 }

// MaskOf builds the set of the given dimensions.
func MaskOf(dims ...Dim) Mask {
	var m Mask
	for _, d := range dims {
		m |= 1 << d
	}
	return m
}

// Dims lists the set's dimensions in canonical order: by ascending code, so that the order
// of label values in a stored series key never depends on enum positions.
func (m Mask) Dims() []Dim {
	var out []Dim
	for _, d := range dimOrder {
		if m.Has(d) {
			out = append(out, d)
		}
	}
	return out
}

// Len is the number of dimensions in the set.
func (m Mask) Len() int {
	n := 0
	for d := Dim(0); d < NumDims; d++ {
		if m.Has(d) {
			n++
		}
	}
	return n
}

// View is a materialised set of dimensions: every accepted beacon adds its values to one
// sketch per (view, metric). A view holding Probe carries the probe metrics; the others
// carry the page metrics.
type View struct {
	Mask Mask
	Dims []Dim // canonical order (see Mask.Dims)
}

// NewView builds the view of the given dimensions.
func NewView(dims ...Dim) View {
	m := MaskOf(dims...)
	return View{Mask: m, Dims: m.Dims()}
}

// ForProbes reports whether the view carries probe metrics.
func (v View) ForProbes() bool { return v.Mask.Has(Probe) }

// Carries reports whether the view holds sketches of metric m.
func (v View) Carries(m Metric) bool { return v.ForProbes() == m.IsProbe() }

// Names returns the view's dimension names, e.g. ["page", "country"]; never nil.
func (v View) Names() []string {
	out := make([]string, 0, len(v.Dims))
	for _, d := range v.Dims {
		out = append(out, d.String())
	}
	return out
}

// String is the view as written in configuration: "page,country", or "total" for [].
func (v View) String() string {
	if len(v.Dims) == 0 {
		return "total"
	}
	return strings.Join(v.Names(), ",")
}

// ParseView reads a view written as a list of dimension names.
func ParseView(names []string) (View, error) {
	var m Mask
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || n == "total" {
			continue
		}
		d, ok := ParseDim(n)
		if !ok {
			return View{}, fmt.Errorf("unknown dimension %q (known: %s)", n, strings.Join(DimNames(), ", "))
		}
		if m.Has(d) {
			return View{}, fmt.Errorf("dimension %q given twice", n)
		}
		m |= 1 << d
	}
	return View{Mask: m, Dims: m.Dims()}, nil
}

// DefaultViews are the views materialised when the configuration names none. They answer
// every panel of the shipped dashboards.
func DefaultViews() []View {
	return []View{
		NewView(),
		NewView(Page),
		NewView(Country),
		NewView(Device),
		NewView(Nav),
		NewView(Variant),
		NewView(Page, Country),
		NewView(Country, Device),
		NewView(Variant, Country),
		NewView(Probe),
		NewView(Probe, Variant),
		NewView(Probe, Country),
	}
}

// Choose returns the smallest of views that carries metric m and holds every dimension in
// need. ok is false when none does.
func Choose(views []View, m Metric, need Mask) (View, bool) {
	best, found := View{}, false
	for _, v := range views {
		if !v.Carries(m) || v.Mask&need != need {
			continue
		}
		if !found || v.Mask.Len() < best.Mask.Len() {
			best, found = v, true
		}
	}
	return best, found
}

// sep separates label values inside a series key. Values never contain it: Clean removes it.
const sep = 0x1f

// AppendKey appends the series key of labels l inside view v: its values, in the view's
// dimension order, each followed by a separator.
func AppendKey(dst []byte, v View, l *Labels) []byte {
	for _, d := range v.Dims {
		dst = append(dst, l[d]...)
		dst = append(dst, sep)
	}
	return dst
}

// ParseKey fills the view's dimensions of l from a series key made by AppendKey.
func ParseKey(v View, key []byte, l *Labels) error {
	for _, d := range v.Dims {
		i := 0
		for i < len(key) && key[i] != sep {
			i++
		}
		if i == len(key) {
			return fmt.Errorf("series key for view %s is short", v)
		}
		l[d] = string(key[:i])
		key = key[i+1:]
	}
	if len(key) != 0 {
		return fmt.Errorf("series key for view %s is long", v)
	}
	return nil
}

// MaxValueLen bounds the length of one label value in bytes.
const MaxValueLen = 200

// Clean makes an outside string fit to be a label value: control characters (the key
// separator among them) are dropped and the length is bounded. It returns s itself, without
// allocating, when s is already clean.
func Clean(s string) string {
	clean := len(s) <= MaxValueLen
	for i := 0; clean && i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			continue
		}
		if b.Len()+len(string(r)) > MaxValueLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Probe metrics of one probe fetch.
type ProbeValues struct {
	Name   string
	Values [NumProbeMetrics]float64
	Has    uint8 // bit i set: Values[i] (metric ProbeDNS+i) is present
}

// Record is what the server hands the aggregator for one accepted beacon: its labels, its
// page metrics and its probes, bucketed at Time (server receive time, unix seconds).
type Record struct {
	Time   int64
	Labels Labels
	Values [NumPageMetrics]float64
	Has    uint16 // bit i set: Values[i] is present
	Probes []ProbeValues
}

// Set records value v for page metric m.
func (r *Record) Set(m Metric, v float64) {
	r.Values[m] = v
	r.Has |= 1 << m
}

// Set records value v for probe metric m.
func (p *ProbeValues) Set(m Metric, v float64) {
	i := m - ProbeDNS
	p.Values[i] = v
	p.Has |= 1 << i
}
