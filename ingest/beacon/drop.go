package beacon

import (
	"fmt"

	"rumd/internal/series"
)

// Metric drops: what Validate does with a mark that is unavailable or quirky rather than a
// sign of a broken clock (docs/design.md, "Rejection rules"). Only the metrics derived from
// such a mark are dropped; the rest of the beacon is kept.
//
//   - negative      a mark before the time origin (Firefox's fetchStart and connection marks
//     a few ms below zero in a fresh tab), or a negative vital: the metrics that use it
//   - concealed     responseStart 0 while responseEnd is set (WebKit rounds marks to whole
//     ms, so a sub-ms response starts at 0; a cross-origin redirect hides it): ttfb and
//     download; a DNS or connect span whose start is 0 but whose end is set: that span
//   - out_of_range  a derived timing above MaxTiming or a CLS above MaxCLS: that metric

// dropMetrics fills b.Dropped and each probe's Dropped, and reports whether the beacon keeps
// at least one metric (page or probe).
func dropMetrics(b *Beacon, o *Options) bool {
	b.Dropped = [series.NumPageMetrics]Reason{}
	maxT := ms(o.MaxTiming)
	drop := func(m series.Metric, r Reason) {
		if b.Dropped[m] == OK {
			b.Dropped[m] = r
		}
	}
	if b.HasNT && b.Nav != NavBFCache {
		t := &b.NT.Marks
		for _, s := range pageSpans {
			a, z := t[s.start], t[s.end]
			switch {
			case a < 0 || z < 0:
				drop(series.Metric(s.m), Negative)
			case a == 0 && z > 0 && series.Metric(s.m) != series.TLS:
				// TLS is absent on plain HTTP: secureConnectionStart 0 is no quirk.
				drop(series.Metric(s.m), Concealed)
			}
		}
		if t[ResponseStart] == 0 && t[ResponseEnd] > 0 {
			drop(series.TTFB, Concealed)
			drop(series.Download, Concealed)
		}
		for _, r := range originMetrics {
			if t[r.mark] < 0 {
				drop(r.m, Negative)
			}
		}
	}
	for v, m := range vitalMetrics {
		if x, ok := b.Vitals.Get(Vital(v)); ok && x < 0 {
			drop(m, Negative)
		}
	}
	var vals [series.NumPageMetrics]float64
	has := rawPageMetrics(b, &vals)
	for m, x := range vals {
		if has&(1<<m) == 0 {
			continue
		}
		if series.Metric(m) == series.CLS {
			if x > o.MaxCLS {
				drop(series.CLS, OutOfRange)
			}
		} else if x > maxT {
			drop(series.Metric(m), OutOfRange)
		}
	}
	kept := has&^droppedMask(&b.Dropped) != 0

	for i := range b.Probes {
		p := &b.Probes[i]
		p.Dropped = [series.NumProbeMetrics]Reason{}
		for _, s := range probeSpans {
			a, z := p.Marks[s.start], p.Marks[s.end]
			j := series.Metric(s.m) - series.ProbeDNS
			switch {
			case a < 0 || z < 0:
				p.Dropped[j] = Negative
			case a != 0 && z != 0 && z-a > maxT:
				p.Dropped[j] = OutOfRange
			}
		}
		var pv series.ProbeValues
		p.values(&pv)
		kept = kept || pv.Has != 0
	}
	return kept
}

// droppedMask returns the presence bits of the dropped page metrics.
func droppedMask(d *[series.NumPageMetrics]Reason) uint16 {
	var mask uint16
	for m, r := range d {
		if r != OK {
			mask |= 1 << m
		}
	}
	return mask
}

// firstDrop is the refusal of a beacon that kept no metric: the reason of its first dropped
// metric, or concealed when it reported none at all.
func firstDrop(b *Beacon, o *Options) (Reason, string) {
	for m, r := range b.Dropped {
		if r != OK {
			return r, fmt.Sprintf("no metric left: %s dropped as %s", series.Metric(m), r)
		}
	}
	for i := range b.Probes {
		for j, r := range b.Probes[i].Dropped {
			if r != OK {
				return r, fmt.Sprintf("no metric left: probes[%d] %s dropped as %s", i, series.ProbeDNS+series.Metric(j), r)
			}
		}
	}
	return Concealed, "no metric present: the browser reported no timing (responseStart 0, no vitals, no probes)"
}

// EachDrop calls fn for every metric Validate dropped from an accepted beacon, page metrics
// first, then each probe's in order.
func (b *Beacon) EachDrop(fn func(m series.Metric, r Reason)) {
	for m, r := range b.Dropped {
		if r != OK {
			fn(series.Metric(m), r)
		}
	}
	for i := range b.Probes {
		for j, r := range b.Probes[i].Dropped {
			if r != OK {
				fn(series.ProbeDNS+series.Metric(j), r)
			}
		}
	}
}

// DropNavigationTiming drops every metric derived from the navigation marks (dns, connect,
// tls, ttfb, download, dom_interactive, dcl, load) for reason r, keeping the vitals and
// probes, for a beacon whose sender says its marks cannot be trusted (boomerang's nt_bad).
// It reports whether the beacon still has a metric; call it after Validate.
func (b *Beacon) DropNavigationTiming(r Reason) bool {
	var vals [series.NumPageMetrics]float64
	has := rawPageMetrics(b, &vals)
	for _, s := range pageSpans {
		if b.Dropped[s.m] == OK && has&(1<<s.m) != 0 {
			b.Dropped[s.m] = r
		}
	}
	for _, o := range originMetrics {
		if b.Dropped[o.m] == OK && has&(1<<o.m) != 0 {
			b.Dropped[o.m] = r
		}
	}
	if has&^droppedMask(&b.Dropped) != 0 {
		return true
	}
	for i := range b.Probes {
		var pv series.ProbeValues
		b.Probes[i].values(&pv)
		if pv.Has != 0 {
			return true
		}
	}
	return false
}
