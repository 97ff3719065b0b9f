package main

import (
	"strings"
	"testing"
)

func TestConfigBoomerang(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := buildOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.server.Formats["boomerang"].Path != "/beacon" || o.ingest.Boomerang.VariantParam != "variant" {
		t.Errorf("defaults: path %q, variant parameter %q", o.server.Formats["boomerang"].Path, o.ingest.Boomerang.VariantParam)
	}

	p := writeConfig(t, "boomerang:\n  path: /collect\n  variant_param: h.ab\n")
	if cfg, err = loadConfig([]string{"--config", p}); err != nil {
		t.Fatal(err)
	}
	if o, err = buildOptions(cfg); err != nil {
		t.Fatal(err)
	}
	if o.server.Formats["boomerang"].Path != "/collect" || o.ingest.Boomerang.VariantParam != "h.ab" {
		t.Errorf("from the file: path %q, variant parameter %q", o.server.Formats["boomerang"].Path, o.ingest.Boomerang.VariantParam)
	}
	if cfg, err = loadConfig([]string{"--config", p, "--boomerang-path", ""}); err != nil {
		t.Fatal(err)
	}
	if o, err = buildOptions(cfg); err != nil || o.server.Formats["boomerang"].Path != "" {
		t.Errorf("turned off by flag: %q, %v", o.server.Formats["boomerang"].Path, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--boomerang-path", "/timings"}, "boomerang path"},
		{[]string{"--boomerang-path", "/metrics"}, "collides"},
		{[]string{"--boomerang-variant-param", "rt.end"}, "boomerang's own"},
		{[]string{"--boomerang-variant-param", "a&b"}, "plain parameter name"},
	} {
		if _, err := loadConfig(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
