package testutil

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Beacon builds a valid v1 beacon (docs/design.md §2) sent at `at`, for a page view of url whose
// TTFB is exactly ttfb ms and LCP exactly lcp ms; every other mark is placed consistently
// around them. The map can be edited before it is encoded, to make the beacon bad in one
// precise way.
func Beacon(at time.Time, url string, ttfb, lcp float64) map[string]any {
	load := max(lcp, ttfb+300) + 100
	now := load + 2000
	sentMs := float64(at.UnixMilli())
	origin := sentMs - now
	req := ttfb * 0.4
	return map[string]any{
		"v":       1,
		"id":      fmt.Sprintf("pv%014d", rand.Int64N(1e14)),
		"url":     url,
		"sent":    sentMs,
		"origin":  origin,
		"now":     now,
		"nav":     "navigate",
		"variant": "none",
		"nt": map[string]any{
			"fetchStart": req * 0.05, "domainLookupStart": req * 0.1, "domainLookupEnd": req * 0.3,
			"connectStart": req * 0.3, "secureConnectionStart": req * 0.5, "connectEnd": req * 0.9,
			"requestStart": req, "responseStart": ttfb, "responseEnd": ttfb + 20,
			"domInteractive": ttfb + 200, "domContentLoadedEventEnd": ttfb + 250, "loadEventEnd": load,
			"transferSize": 12000, "nextHopProtocol": "h2",
		},
		"vitals": map[string]any{"fcp": min(ttfb+50, lcp), "lcp": lcp, "cls": 0.01, "inp": 80},
	}
}

// MustJSON encodes v or fails the test.
func MustJSON(tb interface{ Fatal(...any) }, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
