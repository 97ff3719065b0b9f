package beacon

import (
	"errors"
	"fmt"
	"math"
	"time"

	"rumd/internal/series"
)

// Options are the bounds of the rejection rules (docs/design.md, "Rejection rules").
type Options struct {
	// JumpTolerance is how far Date.now() at send may be from timeOrigin + performance.now()
	// before the beacon is a clock_jump.
	JumpTolerance time.Duration
	// JumpPerMille widens the tolerance by this many thousandths of performance.now(): NTP
	// may slew a clock by up to 500 ppm over a long-lived page.
	JumpPerMille float64
	// MaxSkew is how far the client's Date.now() may be from the server's receive time.
	MaxSkew time.Duration
	// MaxTiming is the ceiling of every derived timing (page and probe metrics).
	MaxTiming time.Duration
	// MaxCLS is the ceiling of the cumulative layout shift.
	MaxCLS float64
}

// DefaultOptions returns the default bounds of docs/design.md.
func DefaultOptions() Options {
	return Options{
		JumpTolerance: 2 * time.Second,
		JumpPerMille:  1.0,
		MaxSkew:       24 * time.Hour,
		MaxTiming:     120 * time.Second,
		MaxCLS:        5,
	}
}

var defaultOptions = DefaultOptions()

// Validate reports the first option that is out of its domain.
func (o Options) Validate() error {
	switch {
	case o.JumpTolerance < 0:
		return fmt.Errorf("beacon jump tolerance %v is negative", o.JumpTolerance)
	case !(o.JumpPerMille >= 0) || math.IsInf(o.JumpPerMille, 0):
		return fmt.Errorf("beacon jump per mille %v is not a finite number >= 0", o.JumpPerMille)
	case o.MaxSkew <= 0:
		return fmt.Errorf("beacon max skew %v is not positive", o.MaxSkew)
	case o.MaxTiming <= 0:
		return fmt.Errorf("beacon max timing %v is not positive", o.MaxTiming)
	case !(o.MaxCLS > 0) || math.IsInf(o.MaxCLS, 0):
		return errors.New("beacon max CLS is not a finite number > 0")
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func unixMs(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// Skew returns the client clock's offset from the server's in seconds: the client's
// Date.now() at send minus the server receive time recv. Positive means the client is ahead.
func Skew(b *Beacon, recv time.Time) float64 {
	return (b.Sent - unixMs(recv)) / 1000
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return x-x == 0 }

// Validate checks one beacon decoded without error against the rejection rules of
// docs/design.md ("Rejection rules") at server receive time recv, in the order given in the
// package comment, and returns the first reason that refuses the whole beacon, with a short
// human detail ("" for OK). A whole beacon is refused only when its clock cannot be trusted
// (or it is not a beacon, or a robot's); a mark that is merely unavailable or quirky drops
// only the metrics derived from it, recorded in b.Dropped and each probe's Dropped, which
// Derive honours. A beacon left with no metric at all is refused with the reason of its
// first drop.
//
// A Level 1 beacon that passes its wall-clock checks is converted in place: NT gets its marks
// relative to navigationStart, HasNT is set, and Origin becomes navigationStart when it was
// not sent. A nil o means DefaultOptions. The accepting path does not allocate.
func Validate(b *Beacon, recv time.Time, o *Options) (r Reason, detail string) {
	if o == nil {
		o = &defaultOptions
	}
	if b.V != 1 {
		return Malformed, "unknown version"
	}
	if !b.HasNT && !b.HasNT1 {
		return Malformed, "no nt or nt1"
	}
	if b.Webdriver {
		return Bot, "navigator.webdriver is true"
	}
	if name, ok := checkFinite(b); !ok {
		return OutOfRange, name + " is not a finite number"
	}
	if !b.HasNT {
		if r, detail := checkLevel1(&b.NT1); r != OK {
			return r, detail
		}
		convertLevel1(b)
	}

	recvMs := unixMs(recv)
	if off := b.Sent - recvMs; math.Abs(off) > ms(o.MaxSkew) {
		return ClockSkew, fmt.Sprintf("client clock is %s off the server's (max %v)",
			time.Duration(off*float64(time.Millisecond)).Round(time.Second), o.MaxSkew)
	}
	diff := b.Sent - (b.Origin + b.Now)
	if tol := ms(o.JumpTolerance) + b.Now*o.JumpPerMille/1000; math.Abs(diff) > tol {
		return ClockJump, fmt.Sprintf("sent − (origin + now) = %.1f ms, tolerance %.1f ms", diff, tol)
	}
	if b.Now < 0 {
		return Negative, fmt.Sprintf("now %.1f is negative", b.Now)
	}
	if r, detail := checkFuture(b); r != OK {
		return r, detail
	}
	if r, detail := checkOrder(b); r != OK {
		return r, detail
	}
	if !dropMetrics(b, o) {
		return firstDrop(b, o)
	}
	return OK, ""
}

// checkFinite returns the name of the first number that is NaN or ±Inf.
func checkFinite(b *Beacon) (string, bool) {
	if !finite(b.Sent) {
		return "sent", false
	}
	if !finite(b.Origin) {
		return "origin", false
	}
	if !finite(b.Now) {
		return "now", false
	}
	if b.HasNT {
		for m, x := range b.NT.Marks {
			if !finite(x) {
				return "nt." + Mark(m).String(), false
			}
		}
		if !finite(b.NT.TransferSize) {
			return "nt.transferSize", false
		}
	}
	if b.HasNT1 {
		for m, x := range b.NT1.Marks {
			if !finite(x) {
				return "nt1." + Mark(m).String(), false
			}
		}
		if !finite(b.NT1.TransferSize) {
			return "nt1.transferSize", false
		}
	}
	for v, x := range b.Vitals.Values {
		if !finite(x) {
			return "vitals." + Vital(v).String(), false
		}
	}
	for i := range b.Probes {
		p := &b.Probes[i]
		for m, x := range p.Marks {
			if !finite(x) {
				return fmt.Sprintf("probes[%d].%s", i, ProbeMark(m)), false
			}
		}
		if !finite(p.TransferSize) {
			return fmt.Sprintf("probes[%d].transferSize", i), false
		}
		if !finite(p.DecodedBodySize) {
			return fmt.Sprintf("probes[%d].decodedBodySize", i), false
		}
	}
	return "", true
}

// checkLevel1 checks Level 1 marks on the wall clock they were taken on. A clock stepped
// back during the load shows as a mark before its predecessor (or before navigationStart):
// rejected, never clamped.
func checkLevel1(t *Timing) (Reason, string) {
	for m := NavigationStart; m <= LoadEventEnd; m++ {
		if t.Marks[m] < 0 {
			return Negative, fmt.Sprintf("nt1.%s %.1f is negative", m, t.Marks[m])
		}
	}
	if t.TransferSize < 0 {
		return Negative, "nt1.transferSize is negative"
	}
	prev := NavigationStart
	for m := RedirectStart; m <= LoadEventEnd; m++ {
		x := t.Marks[m]
		if x == 0 {
			continue
		}
		if x < t.Marks[prev] {
			return NonMonotonic, fmt.Sprintf("nt1.%s is %.1f ms before nt1.%s (wall clock stepped back?)",
				m, t.Marks[prev]-x, prev)
		}
		prev = m
	}
	return OK, ""
}

func convertLevel1(b *Beacon) {
	base := b.NT1.Marks[NavigationStart]
	b.NT = Timing{TransferSize: b.NT1.TransferSize, NextHopProtocol: b.NT1.NextHopProtocol}
	for m := RedirectStart; m <= LoadEventEnd; m++ {
		if x := b.NT1.Marks[m]; x != 0 {
			b.NT.Marks[m] = x - base
		}
	}
	if !b.HasOrigin {
		b.Origin = base
	}
	b.HasNT = true
}

// span is a duration between two marks, present when both are.
type span struct {
	m          uint8 // series.Metric
	start, end uint8 // Mark or ProbeMark
}

// pageSpans are the page metrics that are a difference of two marks (docs/design.md).
var pageSpans = [...]span{
	{uint8(series.DNS), uint8(DomainLookupStart), uint8(DomainLookupEnd)},
	{uint8(series.Connect), uint8(ConnectStart), uint8(ConnectEnd)},
	{uint8(series.TLS), uint8(SecureConnectionStart), uint8(ConnectEnd)},
	{uint8(series.Download), uint8(ResponseStart), uint8(ResponseEnd)},
}

// probeSpans are the probe metrics, all differences of two probe marks.
var probeSpans = [...]span{
	{uint8(series.ProbeDNS), uint8(PDomainLookupStart), uint8(PDomainLookupEnd)},
	{uint8(series.ProbeConnect), uint8(PConnectStart), uint8(PConnectEnd)},
	{uint8(series.ProbeTLS), uint8(PSecureConnectionStart), uint8(PConnectEnd)},
	{uint8(series.ProbeTTFB), uint8(PStartTime), uint8(PResponseStart)},
	{uint8(series.ProbeTotal), uint8(PStartTime), uint8(PResponseEnd)},
}

// roundSlack is how far a mark may exceed now without being in the future: the snippet
// rounds now and the marks to 0.1 ms, but web-vitals values arrive unrounded.
const roundSlack = 0.1

// checkFuture rejects a mark later than performance.now() at send: the browser cannot have
// seen it yet (TTFB beyond performance.now(), boomerang's marks a day ahead).
func checkFuture(b *Beacon) (Reason, string) {
	now := b.Now + roundSlack
	for m, x := range b.NT.Marks {
		if x > now {
			return FutureMark, fmt.Sprintf("nt.%s %.1f > now %.1f", Mark(m), x, b.Now)
		}
	}
	for _, v := range [...]Vital{VitalFCP, VitalLCP} { // timestamps; inp and cls are not
		if x, ok := b.Vitals.Get(v); ok && x > now {
			return FutureMark, fmt.Sprintf("vitals.%s %.1f > now %.1f", v, x, b.Now)
		}
	}
	for i := range b.Probes {
		for m, x := range b.Probes[i].Marks {
			if x > now {
				return FutureMark, fmt.Sprintf("probes[%d].%s %.1f > now %.1f", i, ProbeMark(m), x, b.Now)
			}
		}
	}
	return OK, ""
}

// checkOrder rejects marks out of their spec order. Absent (0) marks are skipped, and so are
// negative ones: a mark before the time origin is a quirk of the engine's time origin
// (Firefox's fetchStart in a fresh tab), not of its clock, and dropMetrics drops what
// depends on it. Two marks taken on one monotonic clock that disagree with the spec's order
// say the clock cannot be trusted, so they refuse the whole beacon: every mark lies inside
// the span from the navigation's start that ttfb, dcl and load measure.
func checkOrder(b *Beacon) (Reason, string) {
	t := &b.NT.Marks
	prev := Mark(0)
	for m := RedirectStart; m <= LoadEventEnd; m++ {
		x := t[m]
		if x <= 0 {
			continue
		}
		if prev != 0 && x < t[prev] {
			return NonMonotonic, fmt.Sprintf("nt.%s %.1f < nt.%s %.1f", m, x, prev, t[prev])
		}
		prev = m
	}
	for i := range b.Probes {
		pm := &b.Probes[i].Marks
		prev, seen := ProbeMark(0), false
		for m := PStartTime; m < NumProbeMarks; m++ {
			x := pm[m]
			if x <= 0 {
				continue
			}
			if seen && x < pm[prev] {
				return NonMonotonic, fmt.Sprintf("probes[%d].%s %.1f < probes[%d].%s %.1f",
					i, m, x, i, prev, pm[prev])
			}
			prev, seen = m, true
		}
	}
	return OK, ""
}
