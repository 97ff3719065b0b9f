package server

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rumd/server/beacon"
)

type metrics struct {
	accepted      prometheus.Counter
	rejected      *prometheus.CounterVec
	rejectedBy    []prometheus.Counter // by Reason, resolved once
	ingestSeconds prometheus.Histogram
	skew          prometheus.Histogram
	probes        *prometheus.CounterVec
	queryDuration *prometheus.HistogramVec
	refused       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_beacons_accepted_total", Help: "Beacons accepted and handed to the aggregator.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_beacons_rejected_total", Help: "Beacons refused, by reason.",
		}, []string{"reason"}),
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_ingest_request_duration_seconds", Help: "Time to handle one ingest request.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 16),
		}),
		skew: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_client_clock_skew_seconds", Help: "Client clock minus server clock at receive, accepted beacons.",
			Buckets: []float64{-86400, -3600, -600, -60, -10, -1, 0, 1, 10, 60, 600, 3600, 86400},
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_probes_total", Help: "Probe entries received, by what was kept of them.",
		}, []string{"kept"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rumd_query_duration_seconds", Help: "Time to answer one query API request.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
		}, []string{"endpoint"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_requests_refused_total", Help: "Requests refused before any beacon was read (unauthorized, forbidden origin, timeouts), by reason.",
		}, []string{"reason"}),
	}
	for _, r := range beacon.Reasons() {
		m.rejectedBy = append(m.rejectedBy, m.rejected.WithLabelValues(r.String()))
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected, m.ingestSeconds, m.skew, m.probes, m.queryDuration, m.refused)
	}
	return m
}

func (m *metrics) reject(r beacon.Reason, n int) {
	if r > beacon.OK && int(r) <= len(m.rejectedBy) {
		m.rejectedBy[r-1].Add(float64(n))
	}
}

func (s *Server) metrics(c *fiber.Ctx) error {
	if s.deps.Gatherer == nil {
		return fiber.ErrNotFound
	}
	h := promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})
	return adaptor.HTTPHandler(h)(c)
}
