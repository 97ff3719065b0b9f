package beacon

import "rumd/internal/series"

// originMetrics are the page metrics measured from the start of the navigation to a mark.
var originMetrics = [...]struct {
	m    series.Metric
	mark Mark
}{
	{series.TTFB, ResponseStart},
	{series.DOMInteractive, DOMInteractive},
	{series.DCL, DOMContentLoadedEventEnd},
	{series.Load, LoadEventEnd},
}

// vitalMetrics maps each Vital to its metric.
var vitalMetrics = [NumVitals]series.Metric{series.FCP, series.LCP, series.CLS, series.INP}

// pageMetrics computes the page metrics of b that Validate kept (docs/design.md, "Derived
// metrics") into vals and returns the presence bits (bit m: metric m).
func pageMetrics(b *Beacon, vals *[series.NumPageMetrics]float64) uint16 {
	return rawPageMetrics(b, vals) &^ droppedMask(&b.Dropped)
}

// rawPageMetrics computes every page metric whose marks are present, dropped or not. A
// metric is absent when a mark it needs is absent. The metrics measured from the start of
// the navigation are rebased on activationStart (non-zero only for an activated prerender)
// and, as web-vitals does, a prerendered page whose mark came before activation counts 0.
func rawPageMetrics(b *Beacon, vals *[series.NumPageMetrics]float64) uint16 {
	var has uint16
	// A page restored from the back-forward cache made no request: its navigation marks
	// describe the original load, so only its vitals (measured from the restore) count.
	if b.HasNT && b.Nav != NavBFCache {
		t := &b.NT.Marks
		for _, s := range pageSpans {
			if a, z := t[s.start], t[s.end]; a != 0 && z != 0 {
				vals[s.m] = z - a
				has |= 1 << s.m
			}
		}
		act := t[ActivationStart]
		for _, r := range originMetrics {
			if x := t[r.mark]; x != 0 {
				vals[r.m] = max(x-act, 0)
				has |= 1 << r.m
			}
		}
	}
	for v, m := range vitalMetrics {
		if b.Vitals.Has&(1<<v) != 0 {
			vals[m] = b.Vitals.Values[v]
			has |= 1 << m
		}
	}
	return has
}

// opaque reports whether a probe's detail marks are all 0: the probe's origin sent no
// Timing-Allow-Origin (or the page timed the fetch itself), so only its total is known.
func (p *Probe) opaque() bool {
	for m := PDomainLookupStart; m <= PResponseStart; m++ {
		if p.Marks[m] != 0 {
			return false
		}
	}
	return true
}

// FromCache reports whether a probe shows positive evidence that a cache answered it: the
// entry's deliveryType was "cache", or its detail marks are visible (Timing-Allow-Origin)
// and it transferred nothing yet decoded a body; without Timing-Allow-Origin transferSize
// is always 0 while Firefox still reports the decoded size of a CORS response. The test
// page fetches every probe with a fresh token and no-store, so a transferSize of 0 alone is
// no evidence: it is what a host without Timing-Allow-Origin reports, and what WebKit
// reports for every cross-origin fetch (docs/design.md, "Engine quirks").
func (p *Probe) FromCache() bool {
	return p.DeliveryCache || (!p.opaque() && p.HasTransferSize && p.TransferSize == 0 && p.DecodedBodySize > 0)
}

// values fills pv with the probe metrics Validate kept: every span of an entry with detail
// marks, only probe_total for an opaque one (its origin sent no Timing-Allow-Origin, or the
// page timed the fetch itself because the browser left no entry).
func (p *Probe) values(pv *series.ProbeValues) {
	opaque := p.opaque()
	for _, s := range probeSpans {
		m := series.Metric(s.m)
		if opaque && m != series.ProbeTotal {
			continue
		}
		if p.Dropped[m-series.ProbeDNS] != OK {
			continue
		}
		if a, z := p.Marks[s.start], p.Marks[s.end]; a > 0 && z > 0 {
			pv.Set(m, z-a)
		}
	}
}

// Derive fills rec from a validated beacon: its page metric values and presence bits (the
// metrics Validate dropped left out), the nav label (default navigate), the variant label
// (cleaned, default "none") and its probes. It does not touch the page, country, device and
// probe dimensions of rec.Labels, nor Time; rec.Probes is reused.
//
// A probe that FromCache says a cache answered is dropped (counted in cachedProbes). A probe
// without detail marks counts only probe_total (counted in opaqueProbes).
func Derive(b *Beacon, rec *series.Record) (cachedProbes, opaqueProbes int) {
	rec.Values = [series.NumPageMetrics]float64{}
	rec.Has = pageMetrics(b, &rec.Values)
	nav := b.Nav
	if nav == "" {
		nav = NavNavigate
	}
	rec.Labels[series.Nav] = series.Clean(nav)
	variant := series.Clean(b.Variant)
	if variant == "" {
		variant = "none"
	}
	rec.Labels[series.Variant] = variant

	rec.Probes = rec.Probes[:0]
	for i := range b.Probes {
		p := &b.Probes[i]
		if p.FromCache() {
			cachedProbes++
			continue
		}
		if p.opaque() {
			opaqueProbes++
		}
		pv := series.ProbeValues{Name: series.Clean(p.Name)}
		if pv.Name == "" {
			pv.Name = "unnamed"
		}
		p.values(&pv)
		if pv.Has != 0 {
			rec.Probes = append(rec.Probes, pv)
		}
	}
	return cachedProbes, opaqueProbes
}
