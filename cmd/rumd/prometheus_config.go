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
	// Views exposed; empty: every configured view (what the Prometheus dashboards read).
	Views [][]string `yaml:"views"`
	// Metrics exposed by API name; empty: all.
	Metrics   []string      `yaml:"metrics"`
	IdleAfter time.Duration `yaml:"idle_after"`
	MaxSeries int           `yaml:"max_series"`
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
	fs.Var(viewList{&p.Views}, "prometheus-views", "views exposed, as --views (default: every configured view)")
	fs.Var(stringList{&p.Metrics}, "prometheus-metrics", "comma-separated metrics exposed (default: all)")
	fs.DurationVar(&p.IdleAfter, "prometheus-idle", p.IdleAfter, "drop an exposed series after this long without a value")
	fs.IntVar(&p.MaxSeries, "prometheus-max-series", p.MaxSeries, "exposed series per view; more are counted in the view's __other__ series")
}

// prometheusBindings hand the prometheus: options to the aggregator's totals and the server;
// they follow the "views" binding, which they read. The components' Validate hold the bounds.
var prometheusBindings = []binding{
	{"prometheus.path", func(c *Config, o *options) error { o.server.RUMMetricsPath = c.Prometheus.Path; return nil }},
	{"prometheus.views", func(c *Config, o *options) error {
		o.agg.Totals.Views = nil
		if len(c.Prometheus.Views) == 0 {
			// Every configured view, so that each panel of the Prometheus dashboards has
			// data; docs/scaling-out.md says what a scrape costs and how to expose fewer.
			for _, v := range o.agg.Views {
				o.agg.Totals.Views = append(o.agg.Totals.Views, v.Mask)
			}
			return nil
		}
		for _, names := range c.Prometheus.Views {
			v, err := series.ParseView(names)
			if err != nil {
				return err
			}
			o.agg.Totals.Views = append(o.agg.Totals.Views, v.Mask)
		}
		return nil
	}},
	{"prometheus.metrics", func(c *Config, o *options) error {
		o.agg.Totals.Metrics = nil
		for _, name := range c.Prometheus.Metrics {
			m, ok := series.ParseMetric(name)
			if !ok {
				return fmt.Errorf("%q is not one of %s", name, strings.Join(series.MetricNames(), ", "))
			}
			o.agg.Totals.Metrics = append(o.agg.Totals.Metrics, m)
		}
		return nil
	}},
	{"prometheus.idle_after", func(c *Config, o *options) error { o.agg.Totals.IdleAfter = c.Prometheus.IdleAfter; return nil }},
	{"prometheus.max_series", func(c *Config, o *options) error { o.agg.Totals.MaxSeries = c.Prometheus.MaxSeries; return nil }},
	// Last: turned off, nothing is exposed whatever the options above say.
	{"prometheus.enabled", func(c *Config, o *options) error {
		if !c.Prometheus.Enabled {
			o.agg.Totals.Views = nil
		}
		return nil
	}},
}
