package query

import (
	"errors"
	"testing"
	"time"
)

// TestApart: windows of one selection never share a stored unit; the unit a boundary falls
// in is read by neither side, whichever side is earlier and whatever the resolution.
func TestApart(t *testing.T) {
	s := newStack(t, base)
	now := time.Unix(base+90, 0) // 00:01:30
	day := int64(86400)
	w := func(from, to int64) Window { return Window{from, to} }
	for _, tc := range []struct {
		name   string
		a, b   Window
		wa, wb Window
		cut    bool
		reason Reason
	}{
		{"before/after inside a minute", w(base-3600+90, base-90), w(base-90, base+90), w(base-3540, base-120), w(base-60, base+120), true, ""},
		{"b before a", w(base-90, base+90), w(base-3600+90, base-90), w(base-60, base+120), w(base-3540, base-120), true, ""},
		{"meeting on a minute boundary", w(base-3600, base-60), w(base-60, base+90), w(base-3600, base-60), w(base-60, base+120), false, ""},
		{"apart already", w(base-3600, base-600), w(base-300, base+90), w(base-3600, base-600), w(base-300, base+120), false, ""},
		// a starts beyond the minute retention (8 days): read in hours, so the cut is the
		// hour the boundary falls in; b, read in minutes, begins at that hour's end.
		{"week over week, in hours", w(base-14*day+90, base-7*day+90), w(base-7*day+90, base+90), w(base-14*day, base-7*day), w(base-7*day+3600, base+120), true, ""},
		// A range compared with itself a day earlier, `until=now` taking in the current
		// second: the one-second overlap is the minute the boundary falls in, cut.
		{"a day earlier, one second of slop", w(base-2*day+30, base-day+31), w(base-day+30, base+31), w(base-2*day, base-day), w(base-day+60, base+60), true, ""},
		{"overlapping as asked", w(base-3600, base), w(base-600, base+90), Window{}, Window{}, false, BadSelection},
		{"overlapping by a minute", w(base-3600, base), w(base-60, base+90), Window{}, Window{}, false, BadSelection},
		{"nothing left of b", w(base-3600, base+80), w(base+80, base+90), Window{}, Window{}, false, BadSelection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wa, wb, cut, err := s.eng.Apart(now, tc.a, tc.b)
			if tc.reason != "" {
				var qe *Error
				if !errors.As(err, &qe) || qe.Reason != tc.reason {
					t.Fatalf("want %s, got %v", tc.reason, err)
				}
				return
			}
			if err != nil || wa != tc.wa || wb != tc.wb || cut != tc.cut {
				t.Fatalf("got a %v b %v cut %v err %v; want a %v b %v cut %v", wa, wb, cut, err, tc.wa, tc.wb, tc.cut)
			}
		})
	}
}
