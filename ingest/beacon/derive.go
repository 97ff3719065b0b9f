package beacon

import "rumd/internal/series"

// pageMetrics computes the page metrics of b (docs/design.md §2 "Derived metrics") into vals and
// returns the presence bits (bit m: metric m). A metric is absent when a mark it needs is
// absent. The metrics measured from the start of the navigation are rebased on
// activationStart (non-zero only for an activated prerender) and, as web-vitals does, a
// prerendered page whose mark came before activation counts 0.
func pageMetrics(b *Beacon, vals *[series.NumPageMetrics]float64) uint16 {
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
		for _, r := range [...]struct {
			m    series.Metric
			mark Mark
		}{
			{series.TTFB, ResponseStart},
			{series.DOMInteractive, DOMInteractive},
			{series.DCL, DOMContentLoadedEventEnd},
			{series.Load, LoadEventEnd},
		} {
			if x := t[r.mark]; x != 0 {
				vals[r.m] = max(x-act, 0)
				has |= 1 << r.m
			}
		}
	}
	for v, m := range [NumVitals]series.Metric{series.FCP, series.LCP, series.CLS, series.INP} {
		if b.Vitals.Has&(1<<v) != 0 {
			vals[m] = b.Vitals.Values[v]
			has |= 1 << m
		}
	}
	return has
}

// opaque reports whether a probe's detail marks are all 0: the probe's origin sent no
// Timing-Allow-Origin, so only its total time is known.
func (p *Probe) opaque() bool {
	for m := PDomainLookupStart; m <= PResponseStart; m++ {
		if p.Marks[m] != 0 {
			return false
		}
	}
	return true
}

// Derive fills rec from a validated beacon: its page metric values and presence bits, the
// nav label (default navigate), the variant label (cleaned, default "none") and its probes.
// It does not touch the page, country, device and probe dimensions of rec.Labels, nor Time;
// rec.Probes is reused.
//
// A probe with detail marks (its origin sends Timing-Allow-Origin) and transferSize 0 came
// from the browser cache and is dropped (counted in cachedProbes). A probe without detail
// marks counts only probe_total (counted in opaqueProbes); its transferSize is always 0 by
// the Resource Timing spec, so it says nothing about the cache and the probe is kept.
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
		isOpaque := p.opaque()
		if !isOpaque && p.HasTransferSize && p.TransferSize == 0 {
			cachedProbes++
			continue
		}
		pv := series.ProbeValues{Name: series.Clean(p.Name)}
		if pv.Name == "" {
			pv.Name = "unnamed"
		}
		if isOpaque {
			opaqueProbes++
			if a, z := p.Marks[PStartTime], p.Marks[PResponseEnd]; a != 0 && z != 0 {
				pv.Set(series.ProbeTotal, z-a)
			}
		} else {
			for _, s := range probeSpans {
				if a, z := p.Marks[s.start], p.Marks[s.end]; a != 0 && z != 0 {
					pv.Set(series.Metric(s.m), z-a)
				}
			}
		}
		if pv.Has != 0 {
			rec.Probes = append(rec.Probes, pv)
		}
	}
	return cachedProbes, opaqueProbes
}
