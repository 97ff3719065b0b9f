package query

import (
	"testing"
	"time"
)

// TestParseTime covers every form both front-ends read, and refusals.
func TestParseTime(t *testing.T) {
	now := time.Date(2025, 11, 21, 8, 30, 45, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"-6h":                  now.Add(-6 * time.Hour),
		"-5min":                now.Add(-5 * time.Minute),
		"-7d":                  now.AddDate(0, 0, -7),
		"-1d12h":               now.Add(-36 * time.Hour),
		"now-1h":               now.Add(-time.Hour),
		"now+30s":              now.Add(30 * time.Second),
		"1763712000":           time.Unix(1763712000, 0),
		"04:00_20251120":       time.Date(2025, 11, 20, 4, 0, 0, 0, time.UTC),
		"20251120":             time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC),
		"11/20/25":             time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC),
		"2025-11-20":           time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC),
		"yesterday":            time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC),
		"today":                time.Date(2025, 11, 21, 0, 0, 0, 0, time.UTC),
		"2025-11-20T04:00:00Z": time.Date(2025, 11, 20, 4, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || got != want.Unix() {
			t.Errorf("%s: %v %v, want %v", in, time.Unix(got, 0).UTC(), err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-6", "-6x", "25:00_20251120", "-5parsecs", "-99999999999d", "now-", "-", "-1d-2h"} {
		if got, err := ParseTime(bad, now); err == nil {
			t.Errorf("%q parsed as %d", bad, got)
		}
	}
}

// TestParseDuration: the one duration reader of steps, offsets and shifts.
func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s":     90 * time.Second,
		"5min":    5 * time.Minute,
		"5m":      5 * time.Minute,
		"1d12h":   36 * time.Hour,
		"2w":      14 * 24 * time.Hour,
		"1h30min": 90 * time.Minute,
		"2weeks":  14 * 24 * time.Hour,
		"1mon":    30 * 24 * time.Hour,
		"1y":      365 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "h", "1x", "1d12", "-1h", "1.5h", "1 h", "99999999d", "200y", "1d12hh"} {
		if got, err := ParseDuration(bad); err == nil {
			t.Errorf("%q parsed as %v", bad, got)
		}
	}
	for in, want := range map[string]time.Duration{"1d": -24 * time.Hour, "-7d": -7 * 24 * time.Hour, "+1h": time.Hour, "30min": -30 * time.Minute, "1d12h": -36 * time.Hour} {
		if got, err := ParseShift(in); err != nil || got != want {
			t.Errorf("shift %s: %v %v", in, got, err)
		}
	}
}

// TestParseStep: seconds or a duration, rounded up to whole minutes.
func TestParseStep(t *testing.T) {
	for in, want := range map[string]int64{"300": 300, "90": 120, "90s": 120, "5min": 300, "1h": 3600, "1d": 86400, "1d12h": 36 * 3600, "2w": 14 * 86400} {
		if got, err := ParseStep(in); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-60", "0s", "soon", "1x", "99999999999999", "1.5h"} {
		if got, err := ParseStep(bad); err == nil {
			t.Errorf("%q parsed as %d", bad, got)
		}
	}
}
