package server

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rumd/promexp"
)

type metrics struct {
	ingestSeconds prometheus.Histogram
	queryDuration *prometheus.HistogramVec
	refused       *prometheus.CounterVec
	// formatRequests counts beacon requests by format and answer.
	formatRequests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_ingest_request_duration_seconds", Help: "Time to handle one ingest request.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 16),
		}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rumd_query_duration_seconds", Help: "Time to answer one query API request.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
		}, []string{"endpoint"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_requests_refused_total", Help: "Requests refused before any beacon was read (unauthorized, forbidden origin, timeouts), by reason.",
		}, []string{"reason"}),
		formatRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_ingest_requests_total", Help: "Beacon requests answered, by format and HTTP status.",
		}, []string{"format", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.ingestSeconds, m.queryDuration, m.refused, m.formatRequests)
	}
	return m
}

func (s *Server) metrics(c *fiber.Ctx) error {
	if s.deps.Gatherer == nil {
		return fiber.ErrNotFound
	}
	h := promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})
	return adaptor.HTTPHandler(h)(c)
}

// rumMetrics serves the sketches as native histograms; promexp.Handler negotiates the
// protobuf format Prometheus asks for when native histograms are enabled, and heads the
// text format with a note that its histograms have no buckets.
// It takes one of the expensive-read slots: a scrape of many series is a read like any other.
func (s *Server) rumMetrics(c *fiber.Ctx) error {
	_, done, err := s.deps.Engine.Begin(c.UserContext())
	if err != nil {
		return s.queryError(c, "rum_metrics", err)
	}
	defer done()
	return adaptor.HTTPHandler(promexp.Handler(s.deps.RUMGatherer))(c)
}
