package query

import (
	"fmt"
	"time"
)

// Window is a time range [From, To) in unix seconds.
type Window struct{ From, To int64 }

func (w Window) overlaps(o Window) bool { return w.From < o.To && o.From < w.To }

// Apart widens the windows a and b of a comparison of one set of page views (the same
// filters on both sides) to the stored resolution, as Span does, and keeps them from
// sharing any stored minute (or hour, or day). Data is stored per minute, so two windows
// that meet inside a minute, e.g. a before and b after a deploy three minutes ago, would
// both read that whole minute: its page views would count on both sides and hide the
// difference the comparison looks for. The minute (or coarser unit) that straddles the
// boundary holds page views of both sides and is read by neither: a then ends where that
// unit begins and b begins where it ends. cut says whether that happened, for the answer
// to say so. Windows that overlap as asked by a minute or more are refused: no cut makes
// them apart, and the user asked for something else than a before/after comparison.
func (e *Engine) Apart(now time.Time, a, b Window) (sa, sb Window, cut bool, err error) {
	// An overlap of less than a minute, the finest unit stored, is the slop of relative
	// times, not a question: Graphite's `until=now` takes in the current second, so a range
	// compared with itself shifted by exactly its length overlaps by one second. Such
	// windows meet inside a minute and are cut like any that do.
	if a.overlaps(b) && min(a.To, b.To)-max(a.From, b.From) >= 60 {
		return a, b, false, Errorf(BadSelection, "a (%s) and b (%s) overlap: the page views between %s and %s would count on both sides; give windows that do not overlap, e.g. a.to equal to b.from",
			fmtWindow(a), fmtWindow(b), fmtTime(max(a.From, b.From)), fmtTime(min(a.To, b.To)))
	}
	ra, rb := e.Resolution(now, a.From), e.Resolution(now, b.From)
	sa.From, sa.To = Whole(a.From, a.To, ra)
	sb.From, sb.To = Whole(b.From, b.To, rb)
	if !sa.overlaps(sb) {
		return sa, sb, false, nil
	}
	// Cut at units of the coarser resolution, which the finer one divides.
	r := max(ra, rb)
	early, late, se, sl := &a, &b, &sa, &sb
	if b.From < a.From {
		early, late, se, sl = &b, &a, &sb, &sa
	}
	se.To = min(se.To, floor(late.From, r))
	sl.From = max(sl.From, ceil(early.To, r))
	if se.From >= se.To || sl.From >= sl.To {
		return sa, sb, true, Errorf(BadSelection, "a (%s) and b (%s) share the stored %s from %s to %s, which holds page views of both and is read by neither, and that leaves %s empty; give a window that holds at least one whole %s of its own",
			fmtWindow(a), fmtWindow(b), unitName(r), fmtTime(floor(late.From, r)), fmtTime(ceil(early.To, r)), sideName(se.From >= se.To, early == &a), unitName(r))
	}
	return sa, sb, true, nil
}

// sideName names the side left empty by a cut: the early one when early is true.
func sideName(early, earlyIsA bool) string {
	if early == earlyIsA {
		return "a"
	}
	return "b"
}

func unitName(res int64) string {
	switch res {
	case 60:
		return "minute"
	case 3600:
		return "hour"
	}
	return "day"
}

func fmtTime(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05Z") }

func fmtWindow(w Window) string { return fmtTime(w.From) + " to " + fmtTime(w.To) }

// CutNote says in plain words how Apart cut the widened windows sa and sb apart.
func CutNote(sa, sb Window) string {
	early, late := sa, sb
	if sb.To <= sa.From {
		early, late = sb, sa
	}
	return fmt.Sprintf("a and b met inside stored data (kept per minute, or per hour or day once rolled up): %s to %s holds page views of both and is read by neither; a is read from %s, b from %s",
		fmtTime(early.To), fmtTime(late.From), fmtWindow(sa), fmtWindow(sb))
}
