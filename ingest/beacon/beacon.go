// Package beacon holds the first stage of ingest: it decodes the v1 beacon wire format
// (docs/design.md), validates a beacon against the rejection rules (docs/design.md,
// "Rejection rules") and derives the page and probe metrics that the aggregator adds to its
// sketches. Everything here is a pure function of its inputs: no HTTP, no clocks, no
// metrics; the server wires it to those.
//
// The per-beacon path is Decode → Validate → Derive. A whole beacon is refused only when it
// is not a beacon, comes from a robot, or its clock cannot be trusted. Validate checks, in
// this order, and returns the first reason that applies:
//
//  1. malformed     a beacon not built by Decode without error (unknown version)
//  2. bot           navigator.webdriver is true; a robot's timings are not judged further,
//     so the bot count does not depend on how broken its data is
//  3. out_of_range  a NaN or ±Inf anywhere (nothing below can compare it)
//  4. Level 1 only: negative or non_monotonic on the wall clock (navigationStart first),
//     then the marks are converted to Level 2 marks relative to navigationStart
//  5. clock_skew    |sent − receive time| > MaxSkew
//  6. clock_jump    |sent − (origin + now)| > JumpTolerance + now·JumpPerMille/1000
//  7. negative      performance.now() at send below zero
//  8. future_mark   a mark (or fcp, lcp) later than the client's performance.now() at send
//     (more than the snippet's 0.1 ms rounding)
//  9. non_monotonic two present (> 0) marks out of their spec order
//
// Then a mark that is unavailable or quirky drops only the metrics derived from it (see
// drop.go): negative (a mark or vital below zero), concealed (responseStart 0 while
// responseEnd is set; a DNS or connect span missing its start) and out_of_range (a derived
// timing above MaxTiming, CLS above MaxCLS). A beacon left with no metric at all is refused
// with the reason of its first drop, or concealed when it had none to drop.
//
// The clock checks come before the mark checks because a stepped or skewed clock explains
// the mark errors it causes. A beacon that has both nt and nt1 is judged on nt alone.
package beacon

import "rumd/internal/series"

// Mark indexes the navigation marks of a beacon's nt (Level 2) and nt1 (Level 1) objects, in
// their spec order. NavigationStart exists only in Level 1; ActivationStart only in Level 2
// and is not part of the order.
type Mark uint8

// The navigation marks, in the order the spec guarantees for them (up to LoadEventEnd).
const (
	NavigationStart Mark = iota
	RedirectStart
	RedirectEnd
	FetchStart
	DomainLookupStart
	DomainLookupEnd
	ConnectStart
	SecureConnectionStart
	ConnectEnd
	RequestStart
	ResponseStart
	ResponseEnd
	DOMInteractive
	DOMContentLoadedEventEnd
	LoadEventEnd
	ActivationStart
	NumMarks
)

var markNames = [NumMarks]string{
	"navigationStart", "redirectStart", "redirectEnd", "fetchStart",
	"domainLookupStart", "domainLookupEnd", "connectStart", "secureConnectionStart",
	"connectEnd", "requestStart", "responseStart", "responseEnd", "domInteractive",
	"domContentLoadedEventEnd", "loadEventEnd", "activationStart",
}

// String returns the mark's name as it appears on the wire, e.g. "responseStart".
func (m Mark) String() string {
	if m < NumMarks {
		return markNames[m]
	}
	return "mark?"
}

// Timing is one navigation timing object: Level 2 marks in ms relative to the time origin,
// or Level 1 marks in epoch ms. A mark that is 0 (or was missing) is absent.
type Timing struct {
	Marks           [NumMarks]float64
	TransferSize    float64
	NextHopProtocol string
}

// Vital indexes a beacon's vitals.
type Vital uint8

// The vitals of a beacon's "vitals" object.
const (
	VitalFCP Vital = iota
	VitalLCP
	VitalCLS
	VitalINP
	NumVitals
)

var vitalNames = [NumVitals]string{"fcp", "lcp", "cls", "inp"}

// String returns the vital's name on the wire, e.g. "lcp".
func (v Vital) String() string {
	if v < NumVitals {
		return vitalNames[v]
	}
	return "vital?"
}

// Vitals holds the web vitals a beacon reported. Unlike marks, 0 is a value (CLS 0 is the
// best score): only a key that was missing or null is absent.
type Vitals struct {
	Values [NumVitals]float64
	Has    uint8 // bit i set: Values[i] was sent
}

// Get returns vital v and whether it was sent.
func (vs *Vitals) Get(v Vital) (float64, bool) {
	return vs.Values[v], vs.Has&(1<<v) != 0
}

// Set records vital v.
func (vs *Vitals) Set(v Vital, x float64) {
	vs.Values[v] = x
	vs.Has |= 1 << v
}

// ProbeMark indexes the Resource Timing marks of a probe, in their spec order.
type ProbeMark uint8

// The probe marks, in spec order. The ones from PDomainLookupStart to PResponseStart are the
// detail marks that a cross-origin fetch without Timing-Allow-Origin reports as 0.
const (
	PStartTime ProbeMark = iota
	PFetchStart
	PDomainLookupStart
	PDomainLookupEnd
	PConnectStart
	PSecureConnectionStart
	PConnectEnd
	PRequestStart
	PResponseStart
	PResponseEnd
	NumProbeMarks
)

var probeMarkNames = [NumProbeMarks]string{
	"startTime", "fetchStart", "domainLookupStart", "domainLookupEnd", "connectStart",
	"secureConnectionStart", "connectEnd", "requestStart", "responseStart", "responseEnd",
}

// String returns the probe mark's name on the wire, e.g. "startTime".
func (m ProbeMark) String() string {
	if m < NumProbeMarks {
		return probeMarkNames[m]
	}
	return "probeMark?"
}

// Probe is one Resource Timing entry of a probe fetch made by the test page; marks are ms
// relative to the page's time origin, 0 is absent.
type Probe struct {
	Name            string
	URL             string
	Marks           [NumProbeMarks]float64
	TransferSize    float64
	HasTransferSize bool // false: the browser did not report transferSize (cache unknown)
	// DecodedBodySize is the body's size after decoding; with transferSize 0 it is the
	// evidence that a cache answered (0 without Timing-Allow-Origin, or when not sent).
	DecodedBodySize float64
	// DeliveryCache is true when the entry's deliveryType was "cache".
	DeliveryCache   bool
	NextHopProtocol string
	// Dropped says, per probe metric (index metric − series.ProbeDNS), why Validate dropped
	// it; OK means kept.
	Dropped [series.NumProbeMetrics]Reason
}

// MaxProbes bounds the probes of one beacon; a beacon with more is malformed.
const MaxProbes = 32

// Beacon is one decoded v1 beacon (docs/design.md). Its strings are views of the body given
// to Decode (a string with JSON escapes is a decoded copy of its own), so decoding makes no
// copy of the body: they are valid only as long as the body is, which for the HTTP handler
// is the request. The pipeline uses them while it handles the body; what outlives it keeps
// copies (the aggregator copies each label value it admits, the enrichment caches their
// keys).
type Beacon struct {
	V         int
	ID        string
	URL       string // the page, with query string and fragment already dropped
	Sent      float64
	Origin    float64
	Now       float64
	Nav       string // one of the Nav* constants ("" if not sent: navigate)
	Conn      string
	Variant   string
	Page      string // page group set by the site (snippet's data-page); "" = from the URL
	Webdriver bool

	NT     Timing // Level 2 marks; valid when HasNT
	HasNT  bool   // set by Decode for an nt object, and by Validate once it converted nt1
	NT1    Timing // Level 1 marks in epoch ms; valid when HasNT1
	HasNT1 bool

	HasOrigin bool // origin was sent; a Level 1 beacon may omit it (navigationStart is used)

	Vitals Vitals
	Probes []Probe

	// Dropped says, per page metric, why Validate dropped it; OK means kept.
	Dropped [series.NumPageMetrics]Reason
}

// The navigation types of the "nav" field. Decode also accepts "back-forward" and stores it
// as NavBackForward.
const (
	NavNavigate    = "navigate"
	NavReload      = "reload"
	NavBackForward = "back_forward"
	NavBFCache     = "bfcache"
	NavPrerender   = "prerender"
)

// Reset clears b for reuse (from a pool or a Decode dst slice), keeping the capacity of its
// probe slice.
func (b *Beacon) Reset() {
	clear(b.Probes) // drop the old body's strings
	p := b.Probes[:0]
	*b = Beacon{Probes: p}
}
