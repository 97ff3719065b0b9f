package main

import (
	"flag"
	"fmt"
	"strings"

	"rumd/ingest"
	"rumd/server"
)

// formatConfig places one beacon format: formats.<name>.
type formatConfig struct {
	Enabled   bool   `yaml:"enabled"`
	Path      string `yaml:"path"`
	BodyLimit int    `yaml:"body_limit"`
}

// formatsConfig is the formats: section, one key per format of the registry.
type formatsConfig struct {
	V1        formatConfig          `yaml:"v1"`
	Boomerang boomerangFormatConfig `yaml:"boomerang"`
}

// boomerangFormatConfig is formatConfig and boomerang's own option.
type boomerangFormatConfig struct {
	Enabled   bool   `yaml:"enabled"`
	Path      string `yaml:"path"`
	BodyLimit int    `yaml:"body_limit"`
	// VariantParam is the beacon parameter holding the experiment variant.
	VariantParam string `yaml:"variant_param"`
}

// formatFields point at one format's keys in a Config.
type formatFields struct {
	enabled   *bool
	path      *string
	bodyLimit *int
}

func (f *formatConfig) fields() formatFields { return formatFields{&f.Enabled, &f.Path, &f.BodyLimit} }

func (f *boomerangFormatConfig) fields() formatFields {
	return formatFields{&f.Enabled, &f.Path, &f.BodyLimit}
}

// byName is each format's keys by its registry name: the one line a new format adds here
// (a test checks every registered format has one).
func (f *formatsConfig) byName() map[string]formatFields {
	return map[string]formatFields{ingest.FormatV1: f.V1.fields(), ingest.FormatBoomerang: f.Boomerang.fields()}
}

// formatFlags binds formats.<name>.<key> to --formats-<name>-<key> for every registered
// format, and the old flags to their aliases.
func formatFlags(fs *flag.FlagSet, cfg *Config) {
	byName := cfg.Formats.byName()
	for _, f := range ingest.Formats() {
		fc, ok := byName[f.Name]
		if !ok {
			continue // caught by TestConfigHasEveryFormat
		}
		prefix := "formats-" + f.Name + "-"
		fs.BoolVar(fc.enabled, prefix+"enabled", *fc.enabled, "receive "+f.Summary)
		fs.StringVar(fc.path, prefix+"path", *fc.path, "path "+f.Name+" beacons are sent to ("+strings.Join(f.Methods, " and ")+"); empty: off")
		fs.IntVar(fc.bodyLimit, prefix+"body-limit", *fc.bodyLimit, "largest "+f.Name+" request body in bytes (1 KiB to 16 MiB)")
	}
	fs.StringVar(&cfg.Formats.Boomerang.VariantParam, "formats-boomerang-variant-param", cfg.Formats.Boomerang.VariantParam, "boomerang beacon parameter holding the experiment variant (set with BOOMR.addVar)")
	// The old names, kept so that existing command lines keep working.
	fs.StringVar(&cfg.Ingest.Path, "ingest-path", cfg.Ingest.Path, "old name of --formats-v1-path")
	fs.IntVar(&cfg.Ingest.BodyLimit, "body-limit", cfg.Ingest.BodyLimit, "old name setting every --formats-<name>-body-limit")
	fs.Var(optString{&cfg.Boomerang.Path}, "boomerang-path", "old name of --formats-boomerang-path")
	fs.Var(optString{&cfg.Boomerang.VariantParam}, "boomerang-variant-param", "old name of --formats-boomerang-variant-param")
}

// optString is a flag for an option that is unset (nil) unless given, even as "".
type optString struct{ p **string }

func (o optString) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return **o.p
}

func (o optString) Set(v string) error { *o.p = &v; return nil }

// formatBindings hand the formats: section to the server, then the old keys, which win
// when given (each binding's key is the YAML key an error names).
func formatBindings() []binding {
	var out []binding
	for _, f := range ingest.Formats() {
		name, key := f.Name, "formats."+f.Name
		out = append(out,
			binding{key + ".enabled", func(c *Config, o *options) error {
				return setFormat(c, o, name, func(fc formatFields, fo *server.FormatOptions) { fo.Enabled = *fc.enabled })
			}},
			binding{key + ".path", func(c *Config, o *options) error {
				return setFormat(c, o, name, func(fc formatFields, fo *server.FormatOptions) {
					fo.Path = *fc.path
					if name == ingest.FormatV1 {
						o.snippet.Endpoint = fo.Path // the snippet posts v1 beacons
					}
				})
			}},
			binding{key + ".body_limit", func(c *Config, o *options) error {
				return setFormat(c, o, name, func(fc formatFields, fo *server.FormatOptions) { fo.BodyLimit = *fc.bodyLimit })
			}})
	}
	return append(out,
		binding{"formats.boomerang.variant_param", func(c *Config, o *options) error {
			o.ingest.Boomerang.VariantParam = c.Formats.Boomerang.VariantParam
			return nil
		}},
		binding{"ingest.path", func(c *Config, o *options) error {
			if c.Ingest.Path != "" {
				o.server.Formats[ingest.FormatV1] = withPath(o.server.Formats[ingest.FormatV1], c.Ingest.Path)
				o.snippet.Endpoint = c.Ingest.Path
			}
			return nil
		}},
		binding{"ingest.body_limit", func(c *Config, o *options) error {
			if c.Ingest.BodyLimit != 0 {
				for name, fo := range o.server.Formats {
					fo.BodyLimit = c.Ingest.BodyLimit
					o.server.Formats[name] = fo
				}
			}
			return nil
		}},
		binding{"boomerang.path", func(c *Config, o *options) error {
			if c.Boomerang.Path != nil {
				o.server.Formats[ingest.FormatBoomerang] = withPath(o.server.Formats[ingest.FormatBoomerang], *c.Boomerang.Path)
			}
			return nil
		}},
		binding{"boomerang.variant_param", func(c *Config, o *options) error {
			if c.Boomerang.VariantParam != nil {
				o.ingest.Boomerang.VariantParam = *c.Boomerang.VariantParam
			}
			return nil
		}},
	)
}

// setFormat sets one option of format name's placement from its formats: section.
func setFormat(c *Config, o *options, name string, set func(formatFields, *server.FormatOptions)) error {
	fc, ok := c.Formats.byName()[name]
	if !ok {
		return fmt.Errorf("format %s has no config section", name)
	}
	fo := o.server.Formats[name]
	set(fc, &fo)
	o.server.Formats[name] = fo
	return nil
}

func withPath(fo server.FormatOptions, path string) server.FormatOptions {
	fo.Path = path
	return fo
}

// servedFormats lists the served formats as name=path, for the start-up log.
func servedFormats(so server.Options) string {
	var parts []string
	for _, f := range ingest.Formats() {
		if fo := so.Formats[f.Name]; fo.Enabled && fo.Path != "" {
			parts = append(parts, f.Name+"="+fo.Path)
		}
	}
	return strings.Join(parts, " ")
}
