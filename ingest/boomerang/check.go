package boomerang

import (
	"fmt"
	"math"
	"time"

	"rumd/ingest/beacon"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// CheckClock applies the clock rules to a beacon that counts, at server receive time recv.
// boomerang has no send time: rt.end, the end of the load, stands for it, so a client clock
// more than MaxSkew off the server's, or a tab first shown more than MaxSkew after its load,
// is clock_skew. rt.bstart, boomerang's one real Date.now() sample, must lie between the
// navigation start and rt.end (both on the browser's monotonic time line) within the jump
// tolerance, or the wall clock stepped during the load: clock_jump. A nil o means
// beacon.DefaultOptions.
func CheckClock(bb *Beacon, recv time.Time, o *beacon.Options) (beacon.Reason, string) {
	if o == nil {
		def := beacon.DefaultOptions()
		o = &def
	}
	switch {
	case !finite(bb.End):
		return beacon.OutOfRange, "rt.end is not a finite number"
	case bb.HasBStart && !finite(bb.BStart):
		return beacon.OutOfRange, "rt.bstart is not a finite number"
	case !finite(bb.NavStart):
		return beacon.OutOfRange, "nt_nav_st is not a finite number"
	}
	recvMs := float64(recv.UnixNano()) / 1e6
	if off := bb.End - recvMs; math.Abs(off) > ms(o.MaxSkew) {
		return beacon.ClockSkew, fmt.Sprintf("rt.end is %s off the server's clock (max %v)",
			time.Duration(off*float64(time.Millisecond)).Round(time.Second), o.MaxSkew)
	}
	if !bb.HasBStart {
		return beacon.OK, ""
	}
	lo, hi := bb.NavStart, bb.End
	if lo == 0 || lo > hi {
		lo = hi // no navigation start to bound it (or one that validation refuses)
	}
	tol := ms(o.JumpTolerance) + (hi-lo)*o.JumpPerMille/1000
	switch {
	case bb.BStart < lo-tol:
		return beacon.ClockJump, fmt.Sprintf("rt.bstart is %.0f ms before the navigation start, tolerance %.1f ms", lo-bb.BStart, tol)
	case bb.BStart > hi+tol:
		return beacon.ClockJump, fmt.Sprintf("rt.bstart is %.0f ms after rt.end, tolerance %.1f ms", bb.BStart-hi, tol)
	}
	return beacon.OK, ""
}

// CheckUnload applies to an unload beacon's INP the rules beacon.Validate applies to a vital
// (it has no navigation marks for Validate to judge): a finite, non-negative value no larger
// than MaxTiming. Its clock is judged by CheckClock. A nil o means beacon.DefaultOptions.
func CheckUnload(bb *Beacon, o *beacon.Options) (beacon.Reason, string) {
	if o == nil {
		def := beacon.DefaultOptions()
		o = &def
	}
	inp, _ := bb.B.Vitals.Get(beacon.VitalINP)
	switch {
	case !finite(inp):
		return beacon.OutOfRange, "et.inp is not a finite number"
	case inp < 0:
		return beacon.Negative, fmt.Sprintf("et.inp %.1f is negative", inp)
	case inp > ms(o.MaxTiming):
		return beacon.OutOfRange, fmt.Sprintf("inp %.1f ms > %v", inp, o.MaxTiming)
	}
	return beacon.OK, ""
}
