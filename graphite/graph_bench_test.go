package graphite

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDrawGraph draws a day at 1-minute steps (two percentile series of 1440 points,
// a few gaps, and a threshold line) at Graphite's default size and at the size alerting
// mails embed, as PNG and SVG.
func BenchmarkDrawGraph(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 5))
	until := int64(1_763_712_000)
	p75, _ := parseStat("p75")
	list := []*tseries{
		{name: "rumd.device.mobile.lcp.p75", tags: map[string]string{"metric": "lcp"}, stat: p75, start: until - 86400, step: 60},
		{name: "rumd.device.desktop.lcp.p75", tags: map[string]string{"metric": "lcp"}, stat: p75, start: until - 86400, step: 60},
	}
	for _, s := range list {
		s.values = make([]float64, 1440)
		for i := range s.values {
			s.values[i] = 2000 * math.Exp(0.3*rng.NormFloat64())
			if rng.IntN(50) == 0 {
				s.values[i] = math.NaN()
			}
		}
	}
	list = append(list, &tseries{name: "2500", cnst: true, start: until - 86400, step: 43200, values: []float64{2500, 2500, 2500}})
	for _, tc := range []struct {
		name, format  string
		width, height int
	}{
		{"png/330x250", formatPNG, 330, 250},
		{"png/800x150", formatPNG, 800, 150},
		{"svg/800x150", formatSVG, 800, 150},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o, err := parseGraphOptions(func(k string) string {
				switch k {
				case "width":
					return formatNumber(float64(tc.width))
				case "height":
					return formatNumber(float64(tc.height))
				}
				return ""
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := drawGraph(io.Discard, tc.format, o, time.UTC, list, until-86400, until); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMovingPercentile is a day at 1-minute steps of movingAverage over an hour: each
// of the 1440 points merges the sketches of 60 minutes.
func BenchmarkMovingPercentile(b *testing.B) {
	_, app := benchEnv(b)
	benchRender(b, app, "movingAverage(rumd.total.ttfb.p75,'1h')", "-24h", 1440, 1400)
}
