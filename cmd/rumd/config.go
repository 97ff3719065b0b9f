package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"gopkg.in/yaml.v3"

	"rumd/aggregator"
	beaconjs "rumd/beacon-js"
	"rumd/ingest"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	"rumd/internal/tlsconf"
	"rumd/query"
	"rumd/server"
	"rumd/server/ratelimit"
	"rumd/storage"
)

// Config is everything `rumd serve` can be told, from a YAML file and flags (flags win);
// rumd.example.yaml lists every option with its default. A bound is declared once: a
// validate tag holds the bounds of the options only the config has, and the options handed
// to a component are checked by that component's Validate (see bindings).
type Config struct {
	Listen   string `yaml:"listen" validate:"required"`
	Data     string `yaml:"data" validate:"required"`
	GeoIP    string `yaml:"geoip"`
	LogLevel string `yaml:"log_level" validate:"oneof=debug info warn error"`

	Ingest struct {
		// Path and BodyLimit are the old names of formats.v1.path and of every format's
		// body_limit: still read, and when given they win (docs/operating.md).
		Path         string        `yaml:"path,omitempty" alias:"formats.v1.path"`
		CORSOrigins  []string      `yaml:"cors_origins"`
		BodyLimit    int           `yaml:"body_limit,omitempty" alias:"formats.*.body_limit"`
		ReadTimeout  time.Duration `yaml:"read_timeout"`
		WriteTimeout time.Duration `yaml:"write_timeout"`
		IdleTimeout  time.Duration `yaml:"idle_timeout"`
		QueueSize    int           `yaml:"queue_size"`
		Shards       int           `yaml:"shards"`
	} `yaml:"ingest"`

	// Formats place the beacon formats of the registry (ingest.Formats).
	Formats formatsConfig `yaml:"formats"`
	// Boomerang holds the old names of formats.boomerang.path and .variant_param.
	Boomerang struct {
		Path         *string `yaml:"path,omitempty" alias:"formats.boomerang.path"`
		VariantParam *string `yaml:"variant_param,omitempty" alias:"formats.boomerang.variant_param"`
	} `yaml:"boomerang,omitempty" alias:"formats.boomerang"`

	RateLimit rateLimitConfig `yaml:"rate_limit"`
	// ReadRateLimit bounds the expensive reads (query API, Graphite, /metrics/rum).
	ReadRateLimit rateLimitConfig `yaml:"read_rate_limit"`

	PprofListen  string `yaml:"pprof_listen"`
	Token        string `yaml:"token"`
	MetricsToken bool   `yaml:"metrics_token"`
	ScrapeToken  string `yaml:"scrape_token"`
	PublicGraphs bool   `yaml:"public_graphs"`

	TrustedProxies []string          `yaml:"trusted_proxies"`
	CountryHeader  string            `yaml:"country_header"`
	PageRules      []enrich.PageRule `yaml:"page_rules"`
	Views          [][]string        `yaml:"views"`
	Caps           map[string]int    `yaml:"caps"`
	SeriesCap      int               `yaml:"series_cap"`
	SeriesCaps     map[string]int    `yaml:"series_caps"`
	Validation     validationConfig  `yaml:"validation"`
	Retention      retentionConfig   `yaml:"retention"`
	Snippet        snippetConfig     `yaml:"snippet"`
	TestPage       testPageConfig    `yaml:"test_page"`
	Query          queryConfig       `yaml:"query"`
	ShutdownAfter  time.Duration     `yaml:"shutdown_timeout" validate:"gt=0"`
	Storage        string            `yaml:"storage" validate:"oneof=badger none"`
	Prometheus     prometheusConfig  `yaml:"prometheus"`
	Disk           diskConfig        `yaml:"disk"`
	TLS            tlsConfig         `yaml:"tls"`

	// Experiments are the A/B tests /test and /test/embed run (beaconjs checks them).
	Experiments []beaconjs.Experiment `yaml:"experiments"`
}

type rateLimitConfig struct {
	PerAddr     float64 `yaml:"per_address"`
	AddrBurst   int     `yaml:"address_burst"`
	PerPrefix   float64 `yaml:"per_prefix"`
	PrefixBurst int     `yaml:"prefix_burst"`
	Tracked     int     `yaml:"tracked"`
}

func newRateLimitConfig(o ratelimit.Options) rateLimitConfig {
	return rateLimitConfig{o.PerAddr, o.AddrBurst, o.PerPrefix, o.PrefixBurst, o.MaxTracked}
}

type validationConfig struct {
	ClockJumpTolerance time.Duration `yaml:"clock_jump_tolerance"`
	ClockJumpPerMille  float64       `yaml:"clock_jump_per_mille"`
	MaxSkew            time.Duration `yaml:"max_skew"`
	MaxTiming          time.Duration `yaml:"max_timing"`
	MaxCLS             float64       `yaml:"max_cls"`
}

type retentionConfig struct {
	Minute time.Duration `yaml:"1m"`
	Hour   time.Duration `yaml:"1h"`
	Day    time.Duration `yaml:"1d"`
}

type queryConfig struct {
	Timeout       time.Duration `yaml:"timeout"`
	MaxBytes      int64         `yaml:"max_bytes"`
	MaxPoints     int64         `yaml:"max_points"`
	MaxConcurrent int           `yaml:"max_concurrent"`
	QueueWait     time.Duration `yaml:"queue_wait"`
}

type snippetConfig struct {
	SampleRate float64 `yaml:"sample_rate"`
}

type testPageConfig struct {
	Probes         []beaconjs.Probe `yaml:"probes"`
	EmbedMaxSample float64          `yaml:"embed_max_sample"`
}

func defaultConfig() Config {
	var c Config
	c.Listen = ":8080"
	c.Data = "./data"
	c.LogLevel = "info"
	so := server.DefaultOptions()
	for name, fc := range c.Formats.byName() {
		fo := so.Formats[name]
		*fc.enabled, *fc.path, *fc.bodyLimit = fo.Enabled, fo.Path, fo.BodyLimit
	}
	c.Formats.Boomerang.VariantParam = ingest.DefaultOptions().Boomerang.VariantParam
	c.Ingest.CORSOrigins = so.CORSOrigins
	c.Ingest.ReadTimeout, c.Ingest.WriteTimeout, c.Ingest.IdleTimeout = so.ReadTimeout, so.WriteTimeout, so.IdleTimeout
	c.RateLimit, c.ReadRateLimit = newRateLimitConfig(so.RateLimit), newRateLimitConfig(so.ReadRateLimit)
	ao := aggregator.DefaultOptions()
	c.Ingest.QueueSize = ao.QueueSize
	eo := enrich.DefaultOptions()
	c.TrustedProxies = eo.TrustedProxies
	for _, v := range series.DefaultViews() {
		c.Views = append(c.Views, v.Names())
	}
	c.Caps = map[string]int{}
	for d, n := range aggregator.DefaultCaps() {
		c.Caps[series.Dim(d).String()] = n
	}
	c.SeriesCap, c.SeriesCaps = ao.SeriesCap, map[string]int{}
	bo := ingest.DefaultOptions().Beacon
	c.Validation = validationConfig{bo.JumpTolerance, bo.JumpPerMille, bo.MaxSkew, bo.MaxTiming, bo.MaxCLS}
	st := storage.DefaultOptions()
	c.Retention = retentionConfig{st.Retention[storage.Minute], st.Retention[storage.Hour], st.Retention[storage.Day]}
	bj := beaconjs.DefaultOptions()
	c.Snippet.SampleRate = bj.SampleRate
	c.TestPage.EmbedMaxSample = bj.EmbedMaxSample
	qo := query.DefaultOptions()
	c.Query.Timeout, c.Query.MaxBytes, c.Query.MaxPoints, c.Query.QueueWait = qo.Timeout, qo.MaxBytes, qo.MaxPoints, qo.QueueWait
	c.ShutdownAfter = 30 * time.Second
	c.Storage, c.Prometheus = "badger", defaultPrometheusConfig()
	c.Disk = defaultDiskConfig()
	c.TLS = defaultTLSConfig()
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

// intMapFlag is a flag of key=number pairs: --caps page=2000,variant=50 (sep ","), or
// --series-caps 'page,country=50000;total=1' (sep ";", since a view holds commas).
type intMapFlag struct {
	p    *map[string]int
	sep  string
	what string // a key, in errors: "dim" or "view"
}

func (c intMapFlag) String() string { return "" }

func (c intMapFlag) Set(v string) error {
	if *c.p == nil {
		*c.p = map[string]int{}
	}
	for _, part := range strings.Split(v, c.sep) {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscan(val, &n); !ok || err != nil {
			return fmt.Errorf("%q is not %s=number", part, c.what)
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
	fs.StringVar(&cfg.GeoIP, "geoip", cfg.GeoIP, "MaxMind-format country database (GeoIP2/GeoLite2/DB-IP Country or City, ip-location-db); empty: the first found in the default locations (docs/geoip.md); none: no database, every country is XX")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	formatFlags(fs, cfg)
	fs.Var(stringList{&cfg.Ingest.CORSOrigins}, "cors-origins", "comma-separated origins allowed to post beacons, or *")
	fs.DurationVar(&cfg.Ingest.ReadTimeout, "read-timeout", cfg.Ingest.ReadTimeout, "time to read one request")
	fs.DurationVar(&cfg.Ingest.WriteTimeout, "write-timeout", cfg.Ingest.WriteTimeout, "time to write one answer")
	fs.DurationVar(&cfg.Ingest.IdleTimeout, "idle-timeout", cfg.Ingest.IdleTimeout, "keep-alive idle time")
	fs.IntVar(&cfg.Ingest.QueueSize, "queue-size", cfg.Ingest.QueueSize, "beacons waiting for the aggregator before ingest sheds with 503")
	fs.IntVar(&cfg.Ingest.Shards, "shards", cfg.Ingest.Shards, "aggregator workers (0: one per CPU)")
	rateLimitFlags(fs, "", "ingest", &cfg.RateLimit)
	rateLimitFlags(fs, "read-", "query API, Graphite and /metrics/rum", &cfg.ReadRateLimit)
	fs.StringVar(&cfg.PprofListen, "pprof-listen", cfg.PprofListen, "serve Go's /debug/pprof profiles on this address (e.g. 127.0.0.1:6060); empty: off")
	fs.StringVar(&cfg.Token, "token", cfg.Token, fmt.Sprintf("bearer token required by the query, Graphite, dashboard and admin endpoints, and /metrics/rum: at least %d characters, no white space (empty: open)", server.MinTokenLen))
	fs.BoolVar(&cfg.MetricsToken, "metrics-token", cfg.MetricsToken, fmt.Sprintf("require the token (--token, at least %d characters) on /metrics too", server.MinTokenLen))
	fs.StringVar(&cfg.ScrapeToken, "scrape-token", cfg.ScrapeToken, fmt.Sprintf("second bearer token accepted on /metrics and /metrics/rum only, for Prometheus: at least %d characters, no white space, not the same as --token (needs --token)", server.MinTokenLen))
	fs.BoolVar(&cfg.PublicGraphs, "public-graphs", cfg.PublicGraphs, "answer GET /render graph images (png, svg) without the token, for <img> tags")
	fs.Var(stringList{&cfg.TrustedProxies}, "trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For and country header are believed")
	fs.StringVar(&cfg.CountryHeader, "country-header", cfg.CountryHeader, "CDN country header, e.g. CF-IPCountry (trusted proxies only)")
	fs.Var(&pageRuleList{p: &cfg.PageRules}, "page-rule", "page group rule, repeatable: a route template like /questions/:id, or NAME=re:REGEX")
	fs.Var(viewList{&cfg.Views}, "views", "materialised views: ';'-separated lists of ','-separated dimensions (total for [])")
	fs.Var(intMapFlag{&cfg.Caps, ",", "dim"}, "caps", "per-window cardinality caps, e.g. page=2000,variant=50")
	fs.IntVar(&cfg.SeriesCap, "series-cap", cfg.SeriesCap, "series (combinations of its dimensions' values) each view may hold per window; new ones past it are counted in the view's __other__ series")
	fs.Var(intMapFlag{&cfg.SeriesCaps, ";", "view"}, "series-caps", "series caps of some views, e.g. 'page,country=50000;total=1'")
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
	fs.DurationVar(&cfg.Query.Timeout, "query-timeout", cfg.Query.Timeout, "time one query API or Graphite request may take before it is answered 503")
	fs.Int64Var(&cfg.Query.MaxBytes, "query-max-bytes", cfg.Query.MaxBytes, "memory of sketches one read request may fill before it is refused too_much_data")
	fs.Int64Var(&cfg.Query.MaxPoints, "query-max-points", cfg.Query.MaxPoints, "points one read request may answer before it is refused too_many_points")
	fs.IntVar(&cfg.Query.MaxConcurrent, "query-max-concurrent", cfg.Query.MaxConcurrent, "expensive reads (render, find, series, summary, compare, /metrics/rum) run at once (0: one per two CPUs)")
	fs.DurationVar(&cfg.Query.QueueWait, "query-queue-wait", cfg.Query.QueueWait, "time an expensive read waits for a slot before it is answered 503 overloaded")
	fs.DurationVar(&cfg.ShutdownAfter, "shutdown-timeout", cfg.ShutdownAfter, "time allowed to drain and flush on SIGTERM")
	prometheusFlags(fs, cfg)
	diskFlags(fs, cfg)
	tlsFlags(fs, cfg)
	return fs
}

// rateLimitFlags binds one rate limit's options to flags named after its YAML keys.
func rateLimitFlags(fs *flag.FlagSet, prefix, what string, rl *rateLimitConfig) {
	fs.Float64Var(&rl.PerAddr, prefix+"rate-limit", rl.PerAddr, what+" requests per second per client address (0 = off)")
	fs.IntVar(&rl.AddrBurst, prefix+"rate-limit-burst", rl.AddrBurst, "burst per client address")
	fs.Float64Var(&rl.PerPrefix, prefix+"rate-limit-prefix", rl.PerPrefix, what+" requests per second per /24 (IPv4) or /64 (IPv6) (0 = off)")
	fs.IntVar(&rl.PrefixBurst, prefix+"rate-limit-prefix-burst", rl.PrefixBurst, "burst per prefix")
	fs.IntVar(&rl.Tracked, prefix+"rate-limit-tracked", rl.Tracked, "client addresses (and prefixes) remembered by the rate limiter")
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

// decodeConfig reads YAML over cfg; unknown keys are errors, so a typo is never ignored,
// and every error names the option's key.
func decodeConfig(raw []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return namedYAMLError(raw, err)
	}
	return nil
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

// configValidator checks the validate tags, naming each option by its YAML key.
var configValidator = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			return f.Name
		}
		return name
	})
	return v
}()

// validateConfig checks the config's own bounds, then each component's options, so every
// mistake is reported with the YAML key of the option.
func validateConfig(c *Config) error {
	if err := configValidator.Struct(c); err != nil {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) {
			var msgs []string
			for _, f := range ve {
				msgs = append(msgs, configKey(f.Namespace())+": "+tagMessage(f))
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

// configKey turns a validator namespace like Config.ingest.body_limit into the YAML key
// ingest.body_limit.
func configKey(ns string) string {
	_, key, _ := strings.Cut(ns, ".")
	return key
}

func tagMessage(f validator.FieldError) string {
	switch f.Tag() {
	case "required":
		return "is required"
	case "oneof":
		return fmt.Sprintf("must be one of %s, got %q", f.Param(), f.Value())
	case "gt":
		return fmt.Sprintf("must be greater than %s, got %v", f.Param(), f.Value())
	}
	return fmt.Sprintf("must satisfy %s %s, got %v", f.Tag(), f.Param(), f.Value())
}

// options are the components' options built from a config.
type options struct {
	server  server.Options
	ingest  ingest.Options
	enrich  enrich.Options
	agg     aggregator.Options
	storage storage.Options
	snippet beaconjs.Options
	query   query.Options
	tls     tlsconf.Options
}

func defaultOptions() *options {
	return &options{
		server:  server.DefaultOptions(),
		ingest:  ingest.DefaultOptions(),
		enrich:  enrich.DefaultOptions(),
		agg:     aggregator.DefaultOptions(),
		storage: storage.DefaultOptions(),
		snippet: beaconjs.DefaultOptions(),
		query:   query.DefaultOptions(),
		tls:     tlsconf.DefaultOptions(),
	}
}

// validate runs every component's own checks.
func (o *options) validate() error {
	for _, check := range []struct {
		name string
		err  func() error
	}{
		{"server", o.server.Validate}, {"ingest", o.ingest.Validate}, {"enrich", o.enrich.Validate}, {"aggregator", o.agg.Validate},
		{"storage", o.storage.Validate}, {"snippet", o.snippet.Validate}, {"query", o.query.Validate}, {"tls", o.tls.Validate},
	} {
		if err := check.err(); err != nil {
			return err
		}
	}
	return nil
}

// binding hands one YAML option to the component options it sets; the component's
// Validate holds its bounds.
type binding struct {
	key string
	set func(c *Config, o *options) error
}

var bindings = append([]binding{
	{"ingest.cors_origins", func(c *Config, o *options) error { o.server.CORSOrigins = c.Ingest.CORSOrigins; return nil }},
	{"ingest.read_timeout", func(c *Config, o *options) error { o.server.ReadTimeout = c.Ingest.ReadTimeout; return nil }},
	{"ingest.write_timeout", func(c *Config, o *options) error { o.server.WriteTimeout = c.Ingest.WriteTimeout; return nil }},
	{"ingest.idle_timeout", func(c *Config, o *options) error { o.server.IdleTimeout = c.Ingest.IdleTimeout; return nil }},
	{"ingest.queue_size", func(c *Config, o *options) error { o.agg.QueueSize = c.Ingest.QueueSize; return nil }},
	{"ingest.shards", func(c *Config, o *options) error {
		// 0 keeps the aggregator's default, one worker per CPU.
		if c.Ingest.Shards != 0 {
			o.agg.Shards = c.Ingest.Shards
		}
		return nil
	}},
	{"token", func(c *Config, o *options) error { o.server.Token = c.Token; return nil }},
	{"metrics_token", func(c *Config, o *options) error { o.server.MetricsToken = c.MetricsToken; return nil }},
	{"scrape_token", func(c *Config, o *options) error { o.server.ScrapeToken = c.ScrapeToken; return nil }},
	{"public_graphs", func(c *Config, o *options) error { o.server.PublicGraphs = c.PublicGraphs; return nil }},
	{"validation.clock_jump_tolerance", func(c *Config, o *options) error {
		o.ingest.Beacon.JumpTolerance = c.Validation.ClockJumpTolerance
		return nil
	}},
	{"validation.clock_jump_per_mille", func(c *Config, o *options) error {
		o.ingest.Beacon.JumpPerMille = c.Validation.ClockJumpPerMille
		return nil
	}},
	{"validation.max_skew", func(c *Config, o *options) error { o.ingest.Beacon.MaxSkew = c.Validation.MaxSkew; return nil }},
	{"validation.max_timing", func(c *Config, o *options) error { o.ingest.Beacon.MaxTiming = c.Validation.MaxTiming; return nil }},
	{"validation.max_cls", func(c *Config, o *options) error { o.ingest.Beacon.MaxCLS = c.Validation.MaxCLS; return nil }},
	{"geoip", func(c *Config, o *options) error { o.enrich.GeoIPPath = c.GeoIP; return nil }},
	{"trusted_proxies", func(c *Config, o *options) error { o.enrich.TrustedProxies = c.TrustedProxies; return nil }},
	{"country_header", func(c *Config, o *options) error { o.enrich.CountryHeader = c.CountryHeader; return nil }},
	{"page_rules", func(c *Config, o *options) error { o.enrich.PageRules = c.PageRules; return nil }},
	{"views", func(c *Config, o *options) error {
		o.agg.Views = nil
		for _, names := range c.Views {
			v, err := series.ParseView(names)
			if err != nil {
				return err
			}
			o.agg.Views = append(o.agg.Views, v)
		}
		o.query.Views = o.agg.Views
		return nil
	}},
	{"caps", func(c *Config, o *options) error {
		for name, n := range c.Caps {
			d, ok := series.ParseDim(name)
			if !ok {
				return fmt.Errorf("unknown dimension %q (known: %s)", name, strings.Join(series.DimNames(), ", "))
			}
			o.agg.Caps[d] = n
		}
		return nil
	}},
	{"series_cap", func(c *Config, o *options) error { o.agg.SeriesCap = c.SeriesCap; return nil }},
	{"series_caps", func(c *Config, o *options) error {
		o.agg.SeriesCaps = map[series.Mask]int{}
		for name, n := range c.SeriesCaps {
			v, err := series.ParseView(strings.Split(name, ","))
			if err != nil {
				return fmt.Errorf("view %q: %w", name, err)
			}
			o.agg.SeriesCaps[v.Mask] = n
		}
		return nil
	}},
	{"retention.1m", func(c *Config, o *options) error { return setRetention(o, storage.Minute, c.Retention.Minute) }},
	{"retention.1h", func(c *Config, o *options) error { return setRetention(o, storage.Hour, c.Retention.Hour) }},
	{"retention.1d", func(c *Config, o *options) error { return setRetention(o, storage.Day, c.Retention.Day) }},
	{"snippet.sample_rate", func(c *Config, o *options) error { o.snippet.SampleRate = c.Snippet.SampleRate; return nil }},
	{"test_page.probes", func(c *Config, o *options) error { o.snippet.Probes = c.TestPage.Probes; return nil }},
	{"test_page.embed_max_sample", func(c *Config, o *options) error {
		o.snippet.EmbedMaxSample = c.TestPage.EmbedMaxSample
		return nil
	}},
	{"experiments", func(c *Config, o *options) error { o.snippet.Experiments = c.Experiments; return nil }},
	{"query.timeout", func(c *Config, o *options) error { o.query.Timeout = c.Query.Timeout; return nil }},
	{"query.max_bytes", func(c *Config, o *options) error { o.query.MaxBytes = c.Query.MaxBytes; return nil }},
	{"query.max_points", func(c *Config, o *options) error { o.query.MaxPoints = c.Query.MaxPoints; return nil }},
	{"query.max_concurrent", func(c *Config, o *options) error {
		// 0 keeps the engine's default, one per two CPUs.
		if c.Query.MaxConcurrent != 0 {
			o.query.MaxConcurrent = c.Query.MaxConcurrent
		}
		return nil
	}},
	{"query.queue_wait", func(c *Config, o *options) error { o.query.QueueWait = c.Query.QueueWait; return nil }},
}, slices.Concat(formatBindings(), prometheusBindings, diskBindings, tlsBindings,
	rateLimitBindings("rate_limit", func(c *Config) *rateLimitConfig { return &c.RateLimit }, func(o *options) *ratelimit.Options { return &o.server.RateLimit }),
	rateLimitBindings("read_rate_limit", func(c *Config) *rateLimitConfig { return &c.ReadRateLimit }, func(o *options) *ratelimit.Options { return &o.server.ReadRateLimit }))...)

// rateLimitBindings hands one rate limit's five options to the limiter options they set.
func rateLimitBindings(key string, from func(*Config) *rateLimitConfig, to func(*options) *ratelimit.Options) []binding {
	return []binding{
		{key + ".per_address", func(c *Config, o *options) error { to(o).PerAddr = from(c).PerAddr; return nil }},
		{key + ".address_burst", func(c *Config, o *options) error { to(o).AddrBurst = from(c).AddrBurst; return nil }},
		{key + ".per_prefix", func(c *Config, o *options) error { to(o).PerPrefix = from(c).PerPrefix; return nil }},
		{key + ".prefix_burst", func(c *Config, o *options) error { to(o).PrefixBurst = from(c).PrefixBurst; return nil }},
		{key + ".tracked", func(c *Config, o *options) error { to(o).MaxTracked = from(c).Tracked; return nil }},
	}
}

func setRetention(o *options, r storage.Res, d time.Duration) error {
	o.storage.Retention[r], o.query.Retention[r] = d, d
	return nil
}

// buildOptions hands the config to the components' options and runs their checks. When one
// refuses, the config is applied again one option at a time over the defaults to name the
// YAML key that made it refuse.
func buildOptions(c *Config) (*options, error) {
	o := defaultOptions()
	for _, b := range bindings {
		if err := b.set(c, o); err != nil {
			return nil, fmt.Errorf("config: %s: %w", b.key, err)
		}
	}
	if err := o.validate(); err != nil {
		d := defaultOptions()
		for _, b := range bindings {
			_ = b.set(c, d)
			if err := d.validate(); err != nil {
				return nil, fmt.Errorf("config: %s: %w", b.key, err)
			}
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(c.TestPage.Probes) > 0 || len(c.Experiments) > 0 {
		probeView := false
		for _, v := range o.agg.Views {
			probeView = probeView || v.ForProbes()
		}
		if !probeView {
			return nil, errors.New("config: views: probes are configured (test_page.probes or experiments) but no view holds the probe dimension, so their timings would be dropped; add [probe] (and [variant, probe] to compare variants)")
		}
	}
	return o, nil
}
