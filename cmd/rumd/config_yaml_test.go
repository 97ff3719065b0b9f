package main

import (
	"strings"
	"testing"
)

// TestConfigTypeErrorsNameTheKey writes values of the wrong type under several keys, at
// the top level, in sections, in flow mappings and in lists: the error names the key path
// and line, and a duration written as a bare number is told to carry its unit.
func TestConfigTypeErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{name: "bare number duration", yaml: "listen: :8080\ningest:\n  read_timeout: 10\n",
			want: []string{"ingest.read_timeout (line 3)", "use 10s"}},
		{name: "float duration", yaml: "shutdown_timeout: 1.5\n",
			want: []string{"shutdown_timeout (line 1)", "use 1.5s"}},
		{name: "worded duration", yaml: "query:\n  timeout: ten seconds\n",
			want: []string{"query.timeout (line 2)", "like 10s"}},
		{name: "word for a float", yaml: "rate_limit:\n  per_address: fifty\n",
			want: []string{"rate_limit.per_address (line 2)", "`fifty` into float64"}},
		{name: "flow mapping", yaml: "validation: {max_skew: 1h, max_cls: lots}\n",
			want: []string{"validation.max_cls (line 1)", "`lots` into float64"}},
		{name: "word for an int", yaml: "series_cap: many\n",
			want: []string{"series_cap (line 1)", "into int"}},
		{name: "long value", yaml: "ingest:\n  body_limit: sixty-four kilobytes\n",
			want: []string{"ingest.body_limit (line 2)"}},
		{name: "map for a string", yaml: "listen:\n  host: 127.0.0.1\n",
			want: []string{"listen (line 2)", "!!map into string"}},
		{name: "list item", yaml: "cors_origins: []\ningest:\n  cors_origins:\n    - https://a.example\n    - [x]\n",
			want: []string{"ingest.cors_origins[1] (line 5)"}},
		{name: "map value", yaml: "caps: {page: lots}\n",
			want: []string{"caps.page (line 1)", "into int"}},
		{name: "bool", yaml: "public_graphs: maybe\n",
			want: []string{"public_graphs (line 1)", "into bool"}},
		{name: "long number duration", yaml: "ingest:\n  idle_timeout: 12345678901\n",
			want: []string{"ingest.idle_timeout (line 2)", "needs its unit, like 10s"}},
		{name: "two errors", yaml: "retention:\n  1m: 48\n  1h: 30\n",
			want: []string{"retention.1m (line 2)", "use 48s", "retention.1h (line 3)", "use 30s"}},
		{name: "unknown key in a section", yaml: "ingest:\n  read_timout: 10s\n",
			want: []string{"ingest.read_timout (line 2): no such option"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig([]string{"--config", writeConfig(t, tc.yaml)})
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

// FuzzDecodeConfig feeds decodeConfig arbitrary files: it returns an error or a config,
// never panics, and a type error it rewrites still names a line.
func FuzzDecodeConfig(f *testing.F) {
	for _, seed := range []string{
		"", "hello", "- a\n- b\n", "listen: :8080\n", "ingest:\n  read_timeout: 10\n",
		"rate_limit: {per_address: fifty}\n", "a: &x 1\nshards: *x\n", "caps: {page: [1]}\n",
		"views: [[page], 3]\n", "page_rules: [{match: 5}]\n", "listen: :1\nlisten: :2\n",
		"ingest: {cors_origins: {a: b}}\n", "experiments: [{variants: [{weight: x}]}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg := defaultConfig()
		err := decodeConfig(raw, &cfg)
		if err != nil && strings.Contains(err.Error(), "cannot unmarshal") && !strings.Contains(err.Error(), "line ") {
			t.Fatalf("type error without a line: %v", err)
		}
	})
}
