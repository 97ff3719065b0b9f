package main

import (
	"strings"
	"testing"

	"rumd/ingest"
)

// TestConfigHasEveryFormat: every format of the registry has its formats: keys and flags
// named after them, with the registry's defaults.
func TestConfigHasEveryFormat(t *testing.T) {
	cfg := defaultConfig()
	byName := cfg.Formats.byName()
	var path string
	fs := serveFlags(&cfg, &path)
	for _, f := range ingest.Formats() {
		fc, ok := byName[f.Name]
		if !ok {
			t.Errorf("format %s has no formats.%s section", f.Name, f.Name)
			continue
		}
		if !*fc.enabled || *fc.path != f.Path || *fc.bodyLimit != f.BodyLimit {
			t.Errorf("formats.%s defaults: enabled %v, path %q, body limit %d; want the registry's %q, %d", f.Name, *fc.enabled, *fc.path, *fc.bodyLimit, f.Path, f.BodyLimit)
		}
		for _, key := range []string{"enabled", "path", "body-limit"} {
			if fs.Lookup("formats-"+f.Name+"-"+key) == nil {
				t.Errorf("no flag --formats-%s-%s", f.Name, key)
			}
		}
	}
	if len(byName) != len(ingest.Formats()) {
		t.Errorf("formats: has %d sections, the registry %d formats", len(byName), len(ingest.Formats()))
	}
}

// TestConfigFormats sets the formats from the file and from flags, and checks that the old
// keys and flags still set what they set.
func TestConfigFormats(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		args       []string
		v1, boom   string // paths served, "" off
		v1Limit    int
		boomLimit  int
		variant    string
	}{
		{name: "defaults", v1: "/timings", boom: "/beacon", v1Limit: 65536, boomLimit: 65536, variant: "variant"},
		{name: "file", yaml: "formats: {v1: {path: /t, body_limit: 2048}, boomerang: {enabled: true, path: /b, variant_param: ab}}\n",
			v1: "/t", boom: "/b", v1Limit: 2048, boomLimit: 65536, variant: "ab"},
		{name: "flags", args: []string{"--formats-v1-path", "/t", "--formats-boomerang-enabled=false", "--formats-boomerang-variant-param", ""},
			v1: "/t", v1Limit: 65536, boomLimit: 65536},
		{name: "old keys", yaml: "ingest: {path: /rum, body_limit: 4096}\nboomerang: {path: /collect, variant_param: h.ab}\n",
			v1: "/rum", boom: "/collect", v1Limit: 4096, boomLimit: 4096, variant: "h.ab"},
		{name: "old keys win", yaml: "formats: {v1: {path: /t}, boomerang: {path: /b}}\ningest: {path: /rum}\nboomerang: {path: ''}\n",
			v1: "/rum", v1Limit: 65536, boomLimit: 65536, variant: "variant"},
		{name: "old flags", args: []string{"--ingest-path", "/rum", "--body-limit", "8192", "--boomerang-path", "", "--boomerang-variant-param", "x"},
			v1: "/rum", v1Limit: 8192, boomLimit: 8192, variant: "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"--config", writeConfig(t, tc.yaml)}, args...)
			}
			cfg, err := loadConfig(args)
			if err != nil {
				t.Fatal(err)
			}
			o, err := buildOptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			served := func(name string) string {
				if fo := o.server.Formats[name]; fo.Enabled {
					return fo.Path
				}
				return ""
			}
			v1, boom := o.server.Formats[ingest.FormatV1], o.server.Formats[ingest.FormatBoomerang]
			if served(ingest.FormatV1) != tc.v1 || served(ingest.FormatBoomerang) != tc.boom || v1.BodyLimit != tc.v1Limit || boom.BodyLimit != tc.boomLimit ||
				o.ingest.Boomerang.VariantParam != tc.variant || o.snippet.Endpoint != v1.Path {
				t.Errorf("got v1 %+v, boomerang %+v, variant %q, snippet endpoint %q", v1, boom, o.ingest.Boomerang.VariantParam, o.snippet.Endpoint)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--formats-boomerang-path", "/timings"}, "config: formats.boomerang.path:"},
		{[]string{"--formats-v1-body-limit", "10"}, "config: formats.v1.body_limit: body limit must be 1 KiB..16 MiB"},
		{[]string{"--formats-v1-path", "/api/v1/x"}, "config: formats.v1.path:"},
		{[]string{"--body-limit", "10"}, "config: ingest.body_limit:"},
	} {
		if _, err := loadConfig(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
