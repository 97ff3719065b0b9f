package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rumd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileThenFlags(t *testing.T) {
	p := writeConfig(t, `
listen: 127.0.0.1:9000
data: /var/lib/rumd
ingest:
  path: /rum
  queue_size: 1000
trusted_proxies: [10.0.0.0/8]
page_rules:
  - match: /questions/:id
  - match: 're:^/u/\d+$'
    name: /users/:id
views: [[], [page], [country, page], [probe]]
retention:
  1m: 48h
validation:
  max_skew: 1h
snippet:
  sample_rate: 5
test_page:
  probes:
    - {name: cdn-a, url: "https://a.example.net/p.gif?r={rand}"}
`)
	cfg, err := loadConfig([]string{"--config", p, "--listen", "127.0.0.1:9100", "--queue-size", "2000", "--series-cap", "500", "--series-caps", "page,country=7;total=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9100" || cfg.Data != "/var/lib/rumd" || cfg.Ingest.Path != "/rum" || cfg.Ingest.QueueSize != 2000 {
		t.Fatalf("flags must override the file: %+v", cfg)
	}
	o, err := buildOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.agg.Views) != 4 || o.agg.Views[2].String() != "page,country" || o.storage.Retention[0] != 48*time.Hour ||
		o.ingest.Beacon.MaxSkew != time.Hour || o.snippet.SampleRate != 5 || o.snippet.Endpoint != "/rum" || len(o.snippet.Probes) != 1 {
		t.Fatalf("options from config: %+v", o)
	}
	if o.agg.SeriesCap != 500 || len(o.agg.SeriesCaps) != 2 || o.agg.SeriesCaps[o.agg.Views[2].Mask] != 7 || o.agg.SeriesCaps[o.agg.Views[0].Mask] != 1 {
		t.Fatalf("series caps from flags: %d %v", o.agg.SeriesCap, o.agg.SeriesCaps)
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		args       []string
		want       string
	}{
		{name: "unknown key", yaml: "lisen: :80\n", want: "lisen (line 1): no such option"},
		{name: "bad listen", args: []string{"--listen", "nowhere"}, want: "listen"},
		{name: "bad proxy", args: []string{"--trusted-proxies", "10.0.0.0/33"}, want: "10.0.0.0/33"},
		{name: "bad view", yaml: "views: [[planet]]\n", want: `unknown dimension "planet"`},
		{name: "bad cap", args: []string{"--caps", "planet=3"}, want: `unknown dimension "planet"`},
		{name: "series cap", args: []string{"--series-cap", "0"}, want: "config: series_cap: series cap must be 1..10000000, got 0"},
		{name: "series cap of an unknown dimension", yaml: "series_caps: {\"page,planet\": 5}\n", want: `config: series_caps: view "page,planet": unknown dimension "planet"`},
		{name: "series cap of an absent view", yaml: "views: [[], [page]]\nseries_caps: {country: 5}\n", want: "config: series_caps: series cap given for view country, which is not a configured view"},
		{name: "series cap flag", args: []string{"--series-caps", "page"}, want: `"page" is not view=number`},
		{name: "short retention", args: []string{"--retention-1m", "1h"}, want: "retention"},
		{name: "sample rate", args: []string{"--sample-rate", "150"}, want: "snippet.sample_rate"},
		{name: "shutdown timeout", args: []string{"--shutdown-timeout", "0s"}, want: "config: shutdown_timeout: must be greater than 0"},
		{name: "log level", yaml: "log_level: loud\n", want: "config: log_level: must be one of debug info warn error"},
		{name: "body limit", yaml: "ingest: {body_limit: 10}\n", want: "config: ingest.body_limit: body limit must be"},
		{name: "shards", args: []string{"--shards", "300"}, want: "config: ingest.shards: shards must be 1..256"},
		{name: "tracked", yaml: "rate_limit: {tracked: 0}\n", want: "config: rate_limit.tracked:"},
		{name: "burst", yaml: "rate_limit: {address_burst: 0}\n", want: "config: rate_limit.address_burst:"},
		{name: "max cls", yaml: "validation: {max_cls: 0}\n", want: "config: validation.max_cls:"},
		{name: "hour retention", yaml: "retention: {1h: 24h}\n", want: "config: retention.1h:"},
		{name: "query timeout", args: []string{"--query-timeout", "0s"}, want: "config: query.timeout: query: timeout must be positive"},
		{name: "ingest path", args: []string{"--ingest-path", "/api/v1/x"}, want: "collides"},
		{name: "regex", yaml: "page_rules: [{match: 're:(', name: x}]\n", want: "page"},
		{name: "stray argument", args: []string{"extra"}, want: "unexpected arguments"},
		{name: "probes without a probe view", yaml: "views: [[], [page]]\ntest_page: {probes: [{name: a, url: 'https://a.example/p.gif'}]}\n", want: "no view holds the probe dimension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"--config", writeConfig(t, tc.yaml)}, args...)
			}
			_, err := loadConfig(args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.Data != "./data" {
		t.Fatalf("defaults %s %s", cfg.Listen, cfg.Data)
	}
}

// FuzzConfig feeds arbitrary YAML to the config loader: it is refused with an error or
// accepted and valid, never a panic.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"listen: 127.0.0.1:9000\ndata: /tmp/x\n",
		"views: [[], [page, country]]\ncaps: {page: 10}\n",
		"page_rules: [{match: /q/:id}, {match: 're:^/u/\\d+', name: /u/:id}]\n",
		"retention: {1m: 48h, 1h: 200h, 1d: 9000h}\n",
		"ingest: {path: /rum, body_limit: 2048, read_timeout: 1s}\n",
		"test_page: {probes: [{name: a, url: 'https://a.example/p.gif?r={rand}'}]}\n",
		"rate_limit: {per_address: 0, per_prefix: 0}\ntoken: 0123456789abcdef\n",
		"storage: none\nprometheus: {views: [[country]], metrics: [ttfb], idle_after: 5m, max_series: 10}\n",
		"listen: [1, 2]\n", "views: {a: b}\n", "&a [*a, *a]\n", "caps: {page: -1}\n",
		"series_cap: 5\nseries_caps: {\"page,country\": 2, total: 1}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg := defaultConfig()
		if decodeConfig(raw, &cfg) != nil {
			return
		}
		if err := validateConfig(&cfg); err == nil {
			if _, err := buildOptions(&cfg); err != nil {
				t.Fatalf("validated config fails to build: %v", err)
			}
		}
	})
}

func TestConfigExperiments(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", writeConfig(t, `
test_page:
  probes: [{name: origin, url: /probe.gif}]
experiments:
  - name: cdn-switch
    variants:
      - {name: cdn-a, weight: 50, probes: [{name: asset, url: "https://a.example.net/p.gif"}]}
      - {name: cdn-b, weight: 50, probes: [{name: asset, url: "https://b.example.net/p.gif"}]}
`)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := buildOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exps := o.snippet.Experiments
	if len(exps) != 1 || exps[0].Name != "cdn-switch" || len(exps[0].Variants) != 2 ||
		exps[0].Variants[1].Name != "cdn-b" || exps[0].Variants[1].Weight != 50 ||
		exps[0].Variants[1].Probes[0].URL != "https://b.example.net/p.gif" || len(o.snippet.Probes) != 1 {
		t.Fatalf("experiments from config: %+v", exps)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"one variant", "experiments: [{name: x, variants: [{name: a, weight: 1}]}]\n", `experiment "x": has 1 variants`},
		{"zero weight", "experiments: [{name: x, variants: [{name: a, weight: 1}, {name: b}]}]\n", `variant "b": weight 0`},
		{"variant in two experiments", "experiments: [{name: x, variants: [{name: a, weight: 1}, {name: b, weight: 1}]}, " +
			"{name: y, variants: [{name: a, weight: 1}, {name: c, weight: 1}]}]\n", `also used in experiment "x"`},
		{"typo", "experiments: [{name: x, variants: [{name: a, wieght: 1}, {name: b, weight: 1}]}]\n", "experiments[0].variants[0].wieght (line 1): no such option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig([]string{"--config", writeConfig(t, tc.yaml)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestEachBoundDeclaredOnce: an option is checked either by a validate tag (options only
// the config has) or by the component it is handed to (a binding), never both, and every
// option is one or the other.
func TestEachBoundDeclaredOnce(t *testing.T) {
	bound := map[string]bool{}
	for _, b := range bindings {
		if bound[b.key] {
			t.Errorf("%s is bound twice", b.key)
		}
		bound[b.key] = true
	}
	configOnly := map[string]bool{"listen": true, "data": true, "log_level": true, "pprof_listen": true, "shutdown_timeout": true, "storage": true}
	seen := map[string]bool{}
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			key := prefix + name
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, key+".")
				continue
			}
			seen[key] = true
			tagged := f.Tag.Get("validate") != ""
			switch {
			case tagged && bound[key]:
				t.Errorf("%s has a validate tag and is checked by its component too", key)
			case bound[key] == configOnly[key]:
				t.Errorf("%s must be either handed to a component (bindings) or config-only", key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	for key := range bound {
		if !seen[key] {
			t.Errorf("binding %s names no option of Config", key)
		}
	}
}
