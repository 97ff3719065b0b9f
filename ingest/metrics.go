package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
	"rumd/internal/series"
)

type metrics struct {
	accepted     prometheus.Counter
	rejected     *prometheus.CounterVec
	rejectedBy   []prometheus.Counter // by Reason, resolved once
	skew         prometheus.Histogram
	probesAll    prometheus.Counter
	probesCached prometheus.Counter
	probesOpaque prometheus.Counter
	ignored      []prometheus.Counter // by boomerang.Kind, resolved once
	// droppedBy counts the metrics Validate dropped from accepted beacons, by metric and
	// reason (only the reasons of beacon.DropReasons are set).
	droppedBy [series.NumMetrics][]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	probes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rumd_probes_total", Help: "Probe entries received, by what was kept of them.",
	}, []string{"kept"})
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_beacons_accepted_total", Help: "Beacons accepted and handed to the aggregator.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_beacons_rejected_total", Help: "Beacons refused, by reason.",
		}, []string{"reason"}),
		skew: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_client_clock_skew_seconds", Help: "Client clock minus server clock at receive, accepted beacons.",
			Buckets: []float64{-86400, -3600, -600, -60, -10, -1, 0, 1, 10, 60, 600, 3600, 86400},
		}),
		probesAll:    probes.WithLabelValues("all"),
		probesCached: probes.WithLabelValues("cached_dropped"),
		probesOpaque: probes.WithLabelValues("total_only"),
	}
	ignored := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rumd_beacons_ignored_total", Help: "Beacons that were read but count for nothing (not rejected data), by format and kind.",
	}, []string{"format", "kind"})
	m.ignored = make([]prometheus.Counter, len(boomerang.IgnoredKinds())+int(boomerang.SPA))
	for _, f := range formats {
		for _, kind := range f.IgnoredKinds {
			ignored.WithLabelValues(f.Name, kind) // every series exists from the start
		}
	}
	for _, k := range boomerang.IgnoredKinds() {
		m.ignored[k] = ignored.WithLabelValues(FormatBoomerang, k.String())
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rumd_metrics_dropped_total",
		Help: "Metrics left out of accepted beacons because a mark they need was unavailable or quirky, by metric and reason.",
	}, []string{"metric", "reason"})
	for metric := range m.droppedBy {
		m.droppedBy[metric] = make([]prometheus.Counter, len(beacon.Reasons())+1)
		for _, r := range beacon.DropReasons() {
			m.droppedBy[metric][r] = dropped.WithLabelValues(series.Metric(metric).String(), r.String())
		}
	}
	for _, r := range beacon.Reasons() {
		m.rejectedBy = append(m.rejectedBy, m.rejected.WithLabelValues(r.String()))
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected, m.skew, probes, ignored, dropped)
	}
	return m
}

func (m *metrics) reject(r beacon.Reason, n int) {
	if r > beacon.OK && int(r) <= len(m.rejectedBy) {
		m.rejectedBy[r-1].Add(float64(n))
	}
}

// drop counts one metric dropped from an accepted beacon.
func (m *metrics) drop(metric series.Metric, r beacon.Reason) {
	if int(metric) < len(m.droppedBy) && int(r) < len(m.droppedBy[metric]) && m.droppedBy[metric][r] != nil {
		m.droppedBy[metric][r].Inc()
	}
}
