// Package promexp exposes the aggregator's cumulative sketches as Prometheus native
// histograms (docs/scaling-out.md), so Prometheus, or an agent remote-writing to Mimir,
// Thanos or Cortex, can merge the percentiles of many rumd nodes with no loss. It sits
// after the aggregator: nothing here runs per beacon, only per scrape.
//
// rumd's buckets are native-histogram buckets of schema 5: rumd's bucket i holds
// (2^(i/32), 2^((i+1)/32)], which Prometheus numbers i+1. Timings are exposed in
// milliseconds, the unit they are counted in: seconds would mean dividing by 1000, which
// moves every value across bucket bounds (see TestSecondsWouldAddError).
package promexp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// Schema is the native-histogram schema of every exposed family.
const Schema = sketch.Scale

// ZeroThreshold bounds the zero bucket: rumd counts values at or below the smallest normal
// float64 (in practice, exactly 0) there, and its first bucket starts just above it.
const ZeroThreshold = 0x1p-1022

// Source is what the exposition reads: the cumulative counts of every exposed series.
type Source interface {
	EachTotal(fn func(v series.View, m series.Metric, l *series.Labels, t *sketch.Total, born int64))
}

// FamilyName is the name of metric m's family: rumd_<metric>_milliseconds for timings,
// rumd_cls for the unitless layout shift.
func FamilyName(m series.Metric) string {
	if m.Unit() == "ms" {
		return "rumd_" + m.String() + "_milliseconds"
	}
	return "rumd_" + m.String()
}

// PrometheusIndex maps rumd's bucket index to Prometheus' for the same bucket.
func PrometheusIndex(i int) int { return i + 1 }

// Collector serves the exposed series; register it on a registry of its own, since its
// families carry a different label set per view and so describe nothing up front.
type Collector struct {
	src   Source
	descs map[descKey]*prometheus.Desc
}

type descKey struct {
	view series.Mask
	m    series.Metric
}

// NewCollector builds the collector over src and the aggregator's views.
func NewCollector(src Source, views []series.View) *Collector {
	c := &Collector{src: src, descs: map[descKey]*prometheus.Desc{}}
	for _, v := range views {
		for m := series.Metric(0); m < series.NumMetrics; m++ {
			if !v.Carries(m) {
				continue
			}
			help := "rumd " + m.String() + " of real page views"
			if m.IsProbe() {
				help = "rumd " + m.String() + " of probe fetches from the test page"
			}
			if m.Unit() == "ms" {
				help += ", in milliseconds"
			}
			help += "; series of one view (label view) partition all values, so sum within one view."
			c.descs[descKey{v.Mask, m}] = prometheus.NewDesc(FamilyName(m), help, append(v.Names(), "view"), nil)
		}
	}
	return c
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe sends nothing: the collector is unchecked, see Collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends one const native histogram per exposed series and metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.src.EachTotal(func(v series.View, m series.Metric, l *series.Labels, t *sketch.Total, born int64) {
		desc := c.descs[descKey{v.Mask, m}]
		if desc == nil {
			return
		}
		values := make([]string, 0, len(v.Dims)+1)
		for _, d := range v.Dims {
			values = append(values, l[d])
		}
		values = append(values, v.String())
		buckets := make(map[int]int64, t.Buckets())
		t.Each(func(i int, n uint64) { buckets[PrometheusIndex(i)] = int64(n) })
		h, err := prometheus.NewConstNativeHistogram(desc, t.Count(), t.Sum(), buckets, nil, t.Zero(),
			Schema, ZeroThreshold, time.Unix(born, 0), values...)
		if err != nil {
			h = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- h
	})
}

// NewRegistry returns a registry holding only the collector, for /metrics/rum.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}
