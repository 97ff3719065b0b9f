package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"rumd/aggregator"
	"rumd/internal/series"
)

// prometheusConfig configures the native-histogram exposition (docs/scaling-out.md).
type prometheusConfig struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"`
	// Views exposed; empty: every configured view of at most one dimension, plus the probe
	// views.
	Views [][]string `yaml:"views"`
	// Metrics exposed by API name; empty: all.
	Metrics   []string      `yaml:"metrics"`
	IdleAfter time.Duration `yaml:"idle_after" validate:"gte=0"`
	MaxSeries int           `yaml:"max_series" validate:"gte=1"`
}

func defaultPrometheusConfig() prometheusConfig {
	t := aggregator.DefaultTotalsOptions()
	return prometheusConfig{Enabled: true, Path: "/metrics/rum", IdleAfter: t.IdleAfter, MaxSeries: t.MaxSeries}
}

func prometheusFlags(fs *flag.FlagSet, cfg *Config) {
	p := &cfg.Prometheus
	fs.StringVar(&cfg.Storage, "storage", cfg.Storage, "badger: keep sketches in --data; none: a stateless node that keeps nothing on disk (its history lives in Prometheus; the query and Graphite APIs see only the windows still in memory)")
	fs.BoolVar(&p.Enabled, "prometheus", p.Enabled, "serve the sketches as Prometheus native histograms")
	fs.StringVar(&p.Path, "prometheus-path", p.Path, "path of the native-histogram exposition")
	fs.Var(viewList{&p.Views}, "prometheus-views", "views exposed, as --views (default: the one-dimension views and the probe views)")
	fs.Var(stringList{&p.Metrics}, "prometheus-metrics", "comma-separated metrics exposed (default: all)")
	fs.DurationVar(&p.IdleAfter, "prometheus-idle", p.IdleAfter, "drop an exposed series after this long without a value")
	fs.IntVar(&p.MaxSeries, "prometheus-max-series", p.MaxSeries, "exposed series per view; more are counted in the view's __other__ series")
}

// buildPrometheusOptions sets the exposition's options in o from c; o.agg.Views is set.
func buildPrometheusOptions(c *Config, o *options) error {
	if c.Storage != "badger" && c.Storage != "none" {
		return fmt.Errorf("config storage: %q is not badger or none", c.Storage)
	}
	p := &c.Prometheus
	o.agg.Totals.Views = nil
	if !p.Enabled {
		return nil
	}
	o.server.RUMMetricsPath = p.Path
	if err := o.server.Validate(); err != nil {
		return fmt.Errorf("config prometheus: %w", err)
	}
	if len(p.Views) == 0 {
		for _, v := range o.agg.Views {
			if v.Mask.Len() <= 1 || (v.ForProbes() && v.Mask.Len() <= 2) {
				o.agg.Totals.Views = append(o.agg.Totals.Views, v.Mask)
			}
		}
	}
	for _, names := range p.Views {
		v, err := series.ParseView(names)
		if err != nil {
			return fmt.Errorf("config prometheus views: %w", err)
		}
		o.agg.Totals.Views = append(o.agg.Totals.Views, v.Mask)
	}
	o.agg.Totals.Metrics = nil
	for _, name := range p.Metrics {
		m, ok := series.ParseMetric(name)
		if !ok {
			return fmt.Errorf("config prometheus metrics: %q is not one of %s", name, strings.Join(series.MetricNames(), ", "))
		}
		o.agg.Totals.Metrics = append(o.agg.Totals.Metrics, m)
	}
	o.agg.Totals.IdleAfter, o.agg.Totals.MaxSeries = p.IdleAfter, p.MaxSeries
	if err := o.agg.Totals.Validate(o.agg.Views); err != nil {
		return fmt.Errorf("config prometheus: %w", err)
	}
	return nil
}
