package ingest

import (
	"sync"
	"time"

	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
)

// boomerangPool recycles decoded boomerang beacons.
var boomerangPool = sync.Pool{New: func() any { return new(boomerang.Beacon) }}

// Boomerang runs one boomerang beacon, its query string and form body merged, through the
// pipeline (docs/boomerang.md). A page-load beacon is judged like a beacon of rumd's own
// snippet and counts every metric once; an unload beacon adds only its INP; the other kinds
// are counted in rumd_beacons_ignored_total and answered OK. The rules run in this order:
// malformed, bot, the clock rules of boomerang.CheckClock, then beacon.Validate (page load)
// or boomerang.CheckUnload (unload); in a page load that boomerang itself flagged nt_bad, the
// metrics of the navigation marks are dropped as non_monotonic (a sub-ms inversion its
// rounding hid) and the vitals kept. Every refusal is counted.
func (p *Pipeline) Boomerang(query, body []byte, cl *Client, recv time.Time) (boomerang.Kind, beacon.Reason, string) {
	bb := boomerangPool.Get().(*boomerang.Beacon)
	defer boomerangPool.Put(bb)
	if err := boomerang.Decode(query, body, &p.opts.Boomerang, bb); err != nil {
		p.m.reject(beacon.Malformed, 1)
		return bb.Kind, beacon.Malformed, err.Error()
	}
	if bb.Kind.Ignored() {
		p.m.ignored[bb.Kind].Inc()
		return bb.Kind, beacon.OK, ""
	}
	r, detail := p.boomerang(bb, cl, recv)
	if r != beacon.OK {
		p.m.reject(r, 1)
	}
	return bb.Kind, r, detail
}

func (p *Pipeline) boomerang(bb *boomerang.Beacon, cl *Client, recv time.Time) (beacon.Reason, string) {
	if cl.Bot {
		return beacon.Bot, "user agent is a bot, crawler or automated browser"
	}
	o := &p.opts.Beacon
	if r, detail := boomerang.CheckClock(bb, recv, o); r != beacon.OK {
		return r, detail
	}
	if bb.Kind == boomerang.Unload {
		if r, detail := boomerang.CheckUnload(bb, o); r != beacon.OK {
			return r, detail
		}
		return p.add(&bb.B, cl, recv)
	}
	if r, detail := beacon.Validate(&bb.B, recv, o); r != beacon.OK {
		return r, detail
	}
	// boomerang flags marks it found out of order or before the navigation (nt_bad); its
	// whole-ms rounding can hide the inversion from the rules above. Like any quirky mark,
	// that drops the metrics of the navigation marks, not the vitals.
	if bb.NTBad && !bb.B.DropNavigationTiming(beacon.NonMonotonic) {
		return beacon.NonMonotonic, "boomerang flagged the navigation timing as bad (nt_bad) and the beacon has no other metric"
	}
	return p.add(&bb.B, cl, recv)
}
