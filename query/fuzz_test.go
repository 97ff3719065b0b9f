package query

import (
	"testing"
	"time"
)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "-6h", "-5min", "now-7d", "+30s", "1763683200", "2025-11-21T00:00:00Z", "-", "now-", "-99999999999999999999d", "-1mon", "2025-11-21T00:00:00+25:00"} {
		f.Add(s)
	}
	now := time.Unix(1763683200, 0)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s, now)
		if err == nil && (v < -1<<42 || v > 1<<42) {
			t.Fatalf("ParseTime(%q) = %d accepted far out of range", s, v)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "5min", "1d12h", "2w", "1mon", "1y", "", "12", "1x", "9999999d", "1d12", "1h30min"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && (d < 0 || d > maxDuration) {
			t.Fatalf("ParseDuration(%q) = %v accepted out of range", s, d)
		}
		if n, err := ParseStep(s); err == nil && (n < 60 || n%60 != 0) {
			t.Fatalf("ParseStep(%q) = %d is not a positive whole minute", s, n)
		}
	})
}
