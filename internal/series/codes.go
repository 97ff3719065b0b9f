package series

import "fmt"

// The codes below are how metrics, dimensions and resolutions are written into stored keys
// (docs/on-disk-format.md). The enums of this package are in-memory positions and may be
// reordered or grown; a code never changes. Append only: a new identifier takes the next
// free code of its kind and a code is never reused. A test pins every row.
//
// The codes of the release before this table existed are the enum positions of that
// release, so the data it wrote reads back unchanged.

// metricCodes lists every metric with its API name and its code. Next free code: 17.
var metricCodes = append([]metricCode{
	{DNS, "dns", 0},
	{Connect, "connect", 1},
	{TLS, "tls", 2},
	{TTFB, "ttfb", 3},
	{Download, "download", 4},
	{DOMInteractive, "dom_interactive", 5},
	{DCL, "dcl", 6},
	{Load, "load", 7},
	{FCP, "fcp", 8},
	{LCP, "lcp", 9},
	{INP, "inp", 10},
	{CLS, "cls", 11},
	{ProbeDNS, "probe_dns", 12},
	{ProbeConnect, "probe_connect", 13},
	{ProbeTLS, "probe_tls", 14},
	{ProbeTTFB, "probe_ttfb", 15},
	{ProbeTotal, "probe_total", 16},
}, testMetricCodes...)

// dimCodes lists every dimension with its API name and its code. Next free code: 6. A
// view is stored as the bit set of its dimensions' codes in one byte, so codes stop at 7;
// an eighth code needs a new format version with a wider view field.
var dimCodes = append([]dimCode{
	{Page, "page", 0},
	{Country, "country", 1},
	{Device, "device", 2},
	{Nav, "nav", 3},
	{Variant, "variant", 4},
	{Probe, "probe", 5},
}, testDimCodes...)

// resolutionCodes lists the storage resolutions by name with their codes. Next free
// code: 3.
var resolutionCodes = []struct {
	name string
	code byte
}{
	{"1m", 0},
	{"1h", 1},
	{"1d", 2},
}

type metricCode struct {
	m    Metric
	name string
	code byte
}

type dimCode struct {
	d    Dim
	name string
	code byte
}

func (r metricCode) fields() (int, string, byte) { return int(r.m), r.name, r.code }
func (r dimCode) fields() (int, string, byte)    { return int(r.d), r.name, r.code }

// maxDimCode is the largest dimension code a one-byte view field can hold.
const maxDimCode = 7

// byMetric and byDim are the tables indexed by enum; dimOrder lists the dimensions by
// ascending code, the canonical order of a view's dimensions.
var (
	byMetric = mustIndex("metric", int(NumMetrics), metricCodes)
	byDim    = mustIndex("dimension", int(NumDims), dimCodes)
	dimOrder = orderDims(byDim)
)

// mustIndex places each row of a code table at its enum position, checking that each of
// the n positions has one row and that names and codes are distinct. A broken table is a
// programming error that would corrupt stored data, so the process refuses to start (and
// every test of every package that stores data fails).
func mustIndex[R interface{ fields() (int, string, byte) }](kind string, n int, rows []R) []R {
	out := make([]R, n)
	filled := make([]bool, n)
	names, codes := map[string]bool{}, map[byte]bool{}
	for _, r := range rows {
		i, name, code := r.fields()
		var err string
		switch {
		case i < 0 || i >= n:
			err = fmt.Sprintf("row %q is outside the enum (%d)", name, i)
		case filled[i]:
			err = fmt.Sprintf("enum position %d has two rows (%q among them)", i, name)
		case names[name]:
			err = fmt.Sprintf("name %q is used twice", name)
		case codes[code]:
			err = fmt.Sprintf("code %d is used twice (%q among them)", code, name)
		}
		if err != "" {
			panic("series: " + kind + " code table: " + err)
		}
		filled[i], names[name], codes[code] = true, true, true
		out[i] = r
	}
	for i, ok := range filled {
		if !ok {
			panic(fmt.Sprintf("series: %s code table: enum position %d has no row", kind, i))
		}
	}
	return out
}

// orderDims lists the dimensions by ascending code, checking that every code fits a view's
// byte.
func orderDims(t []dimCode) []Dim {
	out := make([]Dim, 0, len(t))
	for code := 0; code < 256; code++ {
		for d, r := range t {
			if int(r.code) != code {
				continue
			}
			if code > maxDimCode {
				panic(fmt.Sprintf("series: dimension %s has code %d; a view's byte holds codes 0..%d", r.name, code, maxDimCode))
			}
			out = append(out, Dim(d))
		}
	}
	return out
}

// Code is the metric's code on disk.
func (m Metric) Code() byte { return byMetric[m].code }

// Code is the dimension's code on disk.
func (d Dim) Code() byte { return byDim[d].code }

// Code is the view's identity on disk: the bit set of its dimensions' codes.
func (m Mask) Code() byte {
	var c byte
	for d := Dim(0); d < NumDims; d++ {
		if m.Has(d) {
			c |= 1 << byDim[d].code
		}
	}
	return c
}

// ResolutionCode is the code on disk of the storage resolution named name ("1m", "1h",
// "1d"); ok is false for a name the table does not list.
func ResolutionCode(name string) (code byte, ok bool) {
	for _, r := range resolutionCodes {
		if r.name == name {
			return r.code, true
		}
	}
	return 0, false
}
