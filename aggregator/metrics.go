package aggregator

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	shed          prometheus.Counter
	rebucketed    prometheus.Counter
	overflow      *prometheus.CounterVec
	liveSketches  prometheus.Gauge
	flushed       prometheus.Counter
	flushErrors   prometheus.Counter
	flushDuration prometheus.Histogram
	// capped is, by view index, the records a fed view counted in its overflow series.
	capped []prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, a *Aggregator) *metrics {
	m := &metrics{
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_aggregator_shed_total", Help: "Records refused because the queue was full.",
		}),
		rebucketed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_aggregator_rebucketed_total", Help: "Records that reached a closed window and were counted in the oldest open one.",
		}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_cardinality_overflow_total", Help: "Label values folded into __other__ by a dimension's per-window cap.",
		}, []string{"dim"}),
		liveSketches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rumd_aggregator_live_sketches", Help: "Sketches held in memory (open and closing windows).",
		}),
		flushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_aggregator_windows_flushed_total", Help: "Closed windows written to storage.",
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_aggregator_flush_errors_total", Help: "Window writes that failed and will be retried.",
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_aggregator_flush_duration_seconds", Help: "Time to merge a closed window across shards and store it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	capped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rumd_series_capped_total", Help: "Records a fed view counted in its overflow series (every dimension __other__) because the view had reached its series cap in the window; the views merged from it inherit the fold.",
	}, []string{"view"})
	m.capped = make([]prometheus.Counter, len(a.views))
	for vi, v := range a.views {
		if a.parent[vi] < 0 { // derived views never fold on their own
			m.capped[vi] = capped.WithLabelValues(v.String())
		}
	}
	if reg != nil {
		reg.MustRegister(capped, m.shed, m.rebucketed, m.overflow, m.liveSketches, m.flushed, m.flushErrors, m.flushDuration,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_aggregator_queue_depth", Help: "Records waiting in the aggregator queue.",
			}, func() float64 { return float64(a.QueueDepth()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_aggregator_queue_capacity", Help: "Size of the aggregator queue.",
			}, func() float64 { return float64(a.QueueCapacity()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_aggregator_held_windows", Help: "Closed windows in memory not yet in storage (more than one while storage refuses them).",
			}, func() float64 { n, _, _ := a.Held(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_aggregator_held_bytes", Help: "Estimated memory of the closed windows not yet in storage; at the hold bound beacons are refused with storage_full.",
			}, func() float64 { _, _, b := a.Held(); return float64(b) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "rumd_aggregator_applied_total", Help: "Records added to sketches; equal to rumd_beacons_accepted_total once the queue is drained.",
			}, func() float64 { return float64(a.Applied()) }),
		)
	}
	return m
}
