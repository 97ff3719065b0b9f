package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"gopkg.in/yaml.v3"

	"rumd/aggregator"
	beaconjs "rumd/beacon-js"
	"rumd/ingest"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	"rumd/server"
	"rumd/storage"
)

// Config is everything `rumd serve` can be told, from a YAML file and flags (flags win).
type Config struct {
	Listen   string `yaml:"listen" validate:"required"`
	Data     string `yaml:"data" validate:"required"`
	GeoIP    string `yaml:"geoip"`
	LogLevel string `yaml:"log_level" validate:"oneof=debug info warn error"`

	Ingest struct {
		Path         string        `yaml:"path"`
		CORSOrigins  []string      `yaml:"cors_origins"`
		BodyLimit    int           `yaml:"body_limit" validate:"gte=1024,lte=16777216"`
		ReadTimeout  time.Duration `yaml:"read_timeout" validate:"gt=0"`
		WriteTimeout time.Duration `yaml:"write_timeout" validate:"gt=0"`
		IdleTimeout  time.Duration `yaml:"idle_timeout" validate:"gt=0"`
		QueueSize    int           `yaml:"queue_size" validate:"gte=1,lte=10000000"`
		Shards       int           `yaml:"shards" validate:"gte=1,lte=256"`
	} `yaml:"ingest"`

	RateLimit struct {
		PerAddr     float64 `yaml:"per_address" validate:"gte=0"`
		AddrBurst   int     `yaml:"address_burst" validate:"gte=0"`
		PerPrefix   float64 `yaml:"per_prefix" validate:"gte=0"`
		PrefixBurst int     `yaml:"prefix_burst" validate:"gte=0"`
		Tracked     int     `yaml:"tracked" validate:"gte=1"`
	} `yaml:"rate_limit"`
	PprofListen  string `yaml:"pprof_listen"`
	Token        string `yaml:"token"`
	MetricsToken bool   `yaml:"metrics_token"`

	TrustedProxies []string          `yaml:"trusted_proxies"`
	CountryHeader  string            `yaml:"country_header"`
	PageRules      []enrich.PageRule `yaml:"page_rules"`
	Views          [][]string        `yaml:"views"`
	Caps           map[string]int    `yaml:"caps"`
	Validation     validationConfig  `yaml:"validation"`
	Retention      retentionConfig   `yaml:"retention"`
	Snippet        snippetConfig     `yaml:"snippet"`
	TestPage       testPageConfig    `yaml:"test_page"`
	ShutdownAfter  time.Duration     `yaml:"shutdown_timeout" validate:"gt=0"`
	Storage        string            `yaml:"storage"`
	Prometheus     prometheusConfig  `yaml:"prometheus"`

	// Experiments are the A/B tests /test and /test/embed run (beaconjs checks them).
	Experiments []beaconjs.Experiment `yaml:"experiments"`
}

type validationConfig struct {
	ClockJumpTolerance time.Duration `yaml:"clock_jump_tolerance" validate:"gte=0"`
	ClockJumpPerMille  float64       `yaml:"clock_jump_per_mille" validate:"gte=0"`
	MaxSkew            time.Duration `yaml:"max_skew" validate:"gt=0"`
	MaxTiming          time.Duration `yaml:"max_timing" validate:"gt=0"`
	MaxCLS             float64       `yaml:"max_cls" validate:"gt=0"`
}

type retentionConfig struct {
	Minute time.Duration `yaml:"1m"`
	Hour   time.Duration `yaml:"1h"`
	Day    time.Duration `yaml:"1d"`
}

type snippetConfig struct {
	SampleRate float64 `yaml:"sample_rate" validate:"gte=0,lte=100"`
}

type testPageConfig struct {
	Probes         []beaconjs.Probe `yaml:"probes" validate:"dive"`
	EmbedMaxSample float64          `yaml:"embed_max_sample" validate:"gte=0,lte=100"`
}

func defaultConfig() Config {
	var c Config
	c.Listen = ":8080"
	c.Data = "./data"
	c.LogLevel = "info"
	so := server.DefaultOptions()
	c.Ingest.Path = so.IngestPath
	c.Ingest.CORSOrigins = so.CORSOrigins
	c.Ingest.BodyLimit = so.BodyLimit
	c.Ingest.ReadTimeout, c.Ingest.WriteTimeout, c.Ingest.IdleTimeout = so.ReadTimeout, so.WriteTimeout, so.IdleTimeout
	rl := so.RateLimit
	c.RateLimit.PerAddr, c.RateLimit.AddrBurst, c.RateLimit.PerPrefix, c.RateLimit.PrefixBurst, c.RateLimit.Tracked = rl.PerAddr, rl.AddrBurst, rl.PerPrefix, rl.PrefixBurst, rl.MaxTracked
	ao := aggregator.DefaultOptions()
	c.Ingest.QueueSize, c.Ingest.Shards = ao.QueueSize, ao.Shards
	eo := enrich.DefaultOptions()
	c.TrustedProxies = eo.TrustedProxies
	for _, v := range series.DefaultViews() {
		c.Views = append(c.Views, v.Names())
	}
	c.Caps = map[string]int{}
	for d, n := range aggregator.DefaultCaps() {
		c.Caps[series.Dim(d).String()] = n
	}
	bo := ingest.DefaultOptions().Beacon
	c.Validation = validationConfig{bo.JumpTolerance, bo.JumpPerMille, bo.MaxSkew, bo.MaxTiming, bo.MaxCLS}
	st := storage.DefaultOptions()
	c.Retention = retentionConfig{st.Retention[storage.Minute], st.Retention[storage.Hour], st.Retention[storage.Day]}
	bj := beaconjs.DefaultOptions()
	c.Snippet.SampleRate = bj.SampleRate
	c.TestPage.EmbedMaxSample = bj.EmbedMaxSample
	c.ShutdownAfter = 30 * time.Second
	c.Storage, c.Prometheus = "badger", defaultPrometheusConfig()
	return c
}

// stringList is a flag holding a comma-separated list.
type stringList struct{ p *[]string }

func (s stringList) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringList) Set(v string) error {
	*s.p = nil
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s.p = append(*s.p, part)
		}
	}
	return nil
}

// viewList is the --views flag: views separated by ';', dimensions by ','.
type viewList struct{ p *[][]string }

func (v viewList) String() string {
	if v.p == nil {
		return ""
	}
	var parts []string
	for _, view := range *v.p {
		parts = append(parts, strings.Join(view, ","))
	}
	return strings.Join(parts, ";")
}

func (v viewList) Set(s string) error {
	*v.p = nil
	for _, part := range strings.Split(s, ";") {
		var dims []string
		for _, d := range strings.Split(part, ",") {
			if d = strings.TrimSpace(d); d != "" && d != "total" {
				dims = append(dims, d)
			}
		}
		*v.p = append(*v.p, dims)
	}
	return nil
}

// pageRuleList is the repeatable --page-rule flag: MATCH, or NAME=re:REGEX.
type pageRuleList struct {
	p   *[]enrich.PageRule
	set bool
}

func (l *pageRuleList) String() string { return "" }

func (l *pageRuleList) Set(v string) error {
	if !l.set {
		*l.p, l.set = nil, true
	}
	r := enrich.PageRule{Match: v}
	if i := strings.Index(v, "=re:"); i > 0 {
		r = enrich.PageRule{Name: v[:i], Match: v[i+1:]}
	}
	*l.p = append(*l.p, r)
	return nil
}

// capsFlag is --caps page=2000,variant=50.
type capsFlag struct{ p *map[string]int }

func (c capsFlag) String() string { return "" }

func (c capsFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscan(val, &n); !ok || err != nil {
			return fmt.Errorf("%q is not dim=number", part)
		}
		(*c.p)[k] = n
	}
	return nil
}

// serveFlags binds every option of cfg to a flag.
func serveFlags(cfg *Config, configPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet("rumd serve", flag.ContinueOnError)
	fs.StringVar(configPath, "config", "", "YAML config file; flags given too override it")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve on")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory (sketch database)")
	fs.StringVar(&cfg.GeoIP, "geoip", cfg.GeoIP, "MaxMind-format country database (GeoIP2/GeoLite2/DB-IP Country or City, ip-location-db); empty: every country is XX")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.Ingest.Path, "ingest-path", cfg.Ingest.Path, "path beacons are posted to")
	fs.Var(stringList{&cfg.Ingest.CORSOrigins}, "cors-origins", "comma-separated origins allowed to post beacons, or *")
	fs.IntVar(&cfg.Ingest.BodyLimit, "body-limit", cfg.Ingest.BodyLimit, "largest request body in bytes")
	fs.DurationVar(&cfg.Ingest.ReadTimeout, "read-timeout", cfg.Ingest.ReadTimeout, "time to read one request")
	fs.DurationVar(&cfg.Ingest.WriteTimeout, "write-timeout", cfg.Ingest.WriteTimeout, "time to write one answer")
	fs.DurationVar(&cfg.Ingest.IdleTimeout, "idle-timeout", cfg.Ingest.IdleTimeout, "keep-alive idle time")
	fs.IntVar(&cfg.Ingest.QueueSize, "queue-size", cfg.Ingest.QueueSize, "beacons waiting for the aggregator before ingest sheds with 503")
	fs.IntVar(&cfg.Ingest.Shards, "shards", cfg.Ingest.Shards, "aggregator workers")
	fs.Float64Var(&cfg.RateLimit.PerAddr, "rate-limit", cfg.RateLimit.PerAddr, "ingest requests per second per client address (0 = off)")
	fs.IntVar(&cfg.RateLimit.AddrBurst, "rate-limit-burst", cfg.RateLimit.AddrBurst, "burst per client address")
	fs.Float64Var(&cfg.RateLimit.PerPrefix, "rate-limit-prefix", cfg.RateLimit.PerPrefix, "ingest requests per second per /24 (IPv4) or /64 (IPv6) (0 = off)")
	fs.IntVar(&cfg.RateLimit.PrefixBurst, "rate-limit-prefix-burst", cfg.RateLimit.PrefixBurst, "burst per prefix")
	fs.IntVar(&cfg.RateLimit.Tracked, "rate-limit-tracked", cfg.RateLimit.Tracked, "client addresses (and prefixes) remembered by the rate limiter")
	fs.StringVar(&cfg.PprofListen, "pprof-listen", cfg.PprofListen, "serve Go's /debug/pprof profiles on this address (e.g. 127.0.0.1:6060); empty: off")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "bearer token required by the query, Graphite, dashboard and admin endpoints (empty: open)")
	fs.BoolVar(&cfg.MetricsToken, "metrics-token", cfg.MetricsToken, "require the token on /metrics too")
	fs.Var(stringList{&cfg.TrustedProxies}, "trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For and country header are believed")
	fs.StringVar(&cfg.CountryHeader, "country-header", cfg.CountryHeader, "CDN country header, e.g. CF-IPCountry (trusted proxies only)")
	fs.Var(&pageRuleList{p: &cfg.PageRules}, "page-rule", "page group rule, repeatable: a route template like /questions/:id, or NAME=re:REGEX")
	fs.Var(viewList{&cfg.Views}, "views", "materialised views: ';'-separated lists of ','-separated dimensions (total for [])")
	fs.Var(capsFlag{&cfg.Caps}, "caps", "per-window cardinality caps, e.g. page=2000,variant=50")
	fs.DurationVar(&cfg.Validation.ClockJumpTolerance, "clock-jump-tolerance", cfg.Validation.ClockJumpTolerance, "allowed Date.now() vs timeOrigin+performance.now() gap")
	fs.Float64Var(&cfg.Validation.ClockJumpPerMille, "clock-jump-per-mille", cfg.Validation.ClockJumpPerMille, "extra clock-jump tolerance in thousandths of performance.now()")
	fs.DurationVar(&cfg.Validation.MaxSkew, "max-skew", cfg.Validation.MaxSkew, "largest client clock offset accepted")
	fs.DurationVar(&cfg.Validation.MaxTiming, "max-timing", cfg.Validation.MaxTiming, "ceiling of any timing")
	fs.Float64Var(&cfg.Validation.MaxCLS, "max-cls", cfg.Validation.MaxCLS, "ceiling of CLS")
	fs.DurationVar(&cfg.Retention.Minute, "retention-1m", cfg.Retention.Minute, "how long 1-minute sketches are kept")
	fs.DurationVar(&cfg.Retention.Hour, "retention-1h", cfg.Retention.Hour, "how long 1-hour sketches are kept")
	fs.DurationVar(&cfg.Retention.Day, "retention-1d", cfg.Retention.Day, "how long 1-day sketches are kept")
	fs.Float64Var(&cfg.Snippet.SampleRate, "sample-rate", cfg.Snippet.SampleRate, "percent of page views /rumd.js reports by default")
	fs.Float64Var(&cfg.TestPage.EmbedMaxSample, "embed-max-sample", cfg.TestPage.EmbedMaxSample, "ceiling, in percent, of /test/embed?sample=")
	fs.DurationVar(&cfg.ShutdownAfter, "shutdown-timeout", cfg.ShutdownAfter, "time allowed to drain and flush on SIGTERM")
	prometheusFlags(fs, cfg)
	return fs
}

// loadConfig reads defaults, then the config file, then flags, and validates the result.
func loadConfig(args []string) (*Config, error) {
	cfg := defaultConfig()
	var path string
	// First pass: find --config only.
	probe := serveFlags(&Config{Caps: map[string]int{}}, &path)
	probe.SetOutput(devNull{})
	if err := probe.Parse(args); errors.Is(err, flag.ErrHelp) {
		fs := serveFlags(&cfg, &path)
		fs.SetOutput(os.Stderr)
		fmt.Fprintln(os.Stderr, "usage: rumd serve [flags]\n\nEvery flag can also be set in the YAML file given by --config; flags win.")
		fs.PrintDefaults()
		return nil, err
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeConfig(raw, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	fs := serveFlags(&cfg, &path)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := validateConfig(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// decodeConfig reads YAML over cfg; unknown keys are errors, so a typo is never ignored.
func decodeConfig(raw []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

var configValidator = validator.New(validator.WithRequiredStructEnabled())

// validateConfig checks the config's own bounds, then each component's options, so every
// mistake is reported with the option's name.
func validateConfig(c *Config) error {
	if err := configValidator.Struct(c); err != nil {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) {
			var msgs []string
			for _, f := range ve {
				msgs = append(msgs, fmt.Sprintf("%s: must satisfy %s %s (got %v)", configName(f.Namespace()), f.Tag(), f.Param(), f.Value()))
			}
			return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
		}
		return fmt.Errorf("config: %w", err)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return fmt.Errorf("config: listen: %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.Listen)
	}
	_, err := buildOptions(c)
	return err
}

// configName turns a validator namespace like Config.Ingest.BodyLimit into ingest.body_limit.
func configName(ns string) string {
	ns = strings.TrimPrefix(ns, "Config.")
	var out []string
	for _, part := range strings.Split(ns, ".") {
		var b strings.Builder
		for i, r := range part {
			if r >= 'A' && r <= 'Z' {
				if i > 0 && !(part[i-1] >= 'A' && part[i-1] <= 'Z') {
					b.WriteByte('_')
				}
				r += 'a' - 'A'
			}
			b.WriteRune(r)
		}
		out = append(out, b.String())
	}
	return strings.Join(out, ".")
}

// options are the components' options built from a config.
type options struct {
	server  server.Options
	ingest  ingest.Options
	enrich  enrich.Options
	agg     aggregator.Options
	storage storage.Options
	snippet beaconjs.Options
}

func buildOptions(c *Config) (*options, error) {
	o := &options{
		server:  server.DefaultOptions(),
		ingest:  ingest.DefaultOptions(),
		enrich:  enrich.DefaultOptions(),
		agg:     aggregator.DefaultOptions(),
		storage: storage.DefaultOptions(),
		snippet: beaconjs.DefaultOptions(),
	}
	o.server.IngestPath = c.Ingest.Path
	o.server.CORSOrigins = c.Ingest.CORSOrigins
	o.server.BodyLimit = c.Ingest.BodyLimit
	o.server.ReadTimeout, o.server.WriteTimeout, o.server.IdleTimeout = c.Ingest.ReadTimeout, c.Ingest.WriteTimeout, c.Ingest.IdleTimeout
	o.ingest.Beacon.JumpTolerance = c.Validation.ClockJumpTolerance
	o.ingest.Beacon.JumpPerMille = c.Validation.ClockJumpPerMille
	o.ingest.Beacon.MaxSkew = c.Validation.MaxSkew
	o.ingest.Beacon.MaxTiming = c.Validation.MaxTiming
	o.ingest.Beacon.MaxCLS = c.Validation.MaxCLS
	o.server.RateLimit.PerAddr, o.server.RateLimit.AddrBurst = c.RateLimit.PerAddr, c.RateLimit.AddrBurst
	o.server.RateLimit.PerPrefix, o.server.RateLimit.PrefixBurst = c.RateLimit.PerPrefix, c.RateLimit.PrefixBurst
	o.server.RateLimit.MaxTracked = c.RateLimit.Tracked
	o.server.Token, o.server.MetricsToken = c.Token, c.MetricsToken
	if err := o.server.Validate(); err != nil {
		return nil, fmt.Errorf("config ingest: %w", err)
	}
	if err := o.ingest.Validate(); err != nil {
		return nil, fmt.Errorf("config validation: %w", err)
	}
	o.enrich.GeoIPPath = c.GeoIP
	o.enrich.TrustedProxies = c.TrustedProxies
	o.enrich.CountryHeader = c.CountryHeader
	o.enrich.PageRules = c.PageRules
	if err := o.enrich.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	o.agg.QueueSize, o.agg.Shards = c.Ingest.QueueSize, c.Ingest.Shards
	o.agg.Views = nil
	for _, names := range c.Views {
		v, err := series.ParseView(names)
		if err != nil {
			return nil, fmt.Errorf("config views: %w", err)
		}
		o.agg.Views = append(o.agg.Views, v)
	}
	for name, n := range c.Caps {
		d, ok := series.ParseDim(name)
		if !ok {
			return nil, fmt.Errorf("config caps: unknown dimension %q (known: %s)", name, strings.Join(series.DimNames(), ", "))
		}
		o.agg.Caps[d] = n
	}
	if err := buildPrometheusOptions(c, o); err != nil {
		return nil, err
	}
	if err := o.agg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(c.TestPage.Probes) > 0 || len(c.Experiments) > 0 {
		probeView := false
		for _, v := range o.agg.Views {
			probeView = probeView || v.ForProbes()
		}
		if !probeView {
			return nil, errors.New("config views: probes are configured (test_page.probes or experiments) but no view holds the probe dimension, so their timings would be dropped; add [probe] (and [variant, probe] to compare variants)")
		}
	}
	o.storage.Retention = [storage.NumRes]time.Duration{c.Retention.Minute, c.Retention.Hour, c.Retention.Day}
	if err := o.storage.Validate(); err != nil {
		return nil, fmt.Errorf("config retention: %w", err)
	}
	o.snippet.Endpoint = c.Ingest.Path
	o.snippet.SampleRate = c.Snippet.SampleRate
	o.snippet.Probes = c.TestPage.Probes
	o.snippet.EmbedMaxSample = c.TestPage.EmbedMaxSample
	o.snippet.Experiments = c.Experiments
	if err := o.snippet.Validate(); err != nil {
		return nil, fmt.Errorf("config snippet/test_page/experiments: %w", err)
	}
	return o, nil
}
