package home

import (
	"testing"
	"time"
)

func TestRateSpansTheLastMinute(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := &status{samples: []sample{{at: t0}}}
	for _, tc := range []struct {
		after        time.Duration
		total        float64
		rate, window float64
	}{
		{10 * time.Second, 100, 10, 10},                        // since start
		{10*time.Second + 300*time.Millisecond, 103, 10, 10.3}, // not sampled: under a second apart
		{30 * time.Second, 400, 400.0 / 30, 30},
		{80 * time.Second, 900, (900 - 100) / 70.0, 70}, // the oldest kept sample is 10 s in
		{200 * time.Second, 900, 0, 120},                // idle: no beacons over the window
	} {
		rate, window := s.rate(t0.Add(tc.after), tc.total)
		if rate != round2(tc.rate) || window != round2(tc.window) {
			t.Errorf("after %s with %v beacons: %v/s over %v s, want %v/s over %v s", tc.after, tc.total, rate, window, round2(tc.rate), tc.window)
		}
	}
	if len(s.samples) > 62 {
		t.Errorf("%d samples kept", len(s.samples))
	}
}
