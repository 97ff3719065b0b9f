package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"rumd/server"
)

const examplePath = "../../rumd.example.yaml"

// TestExampleConfigIsTheDefaults loads rumd.example.yaml: it must hold every option of
// Config, each with a comment, set to exactly the built-in default, and be accepted by
// `rumd serve --config`.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	// Every key is an option (unknown keys are refused) and every value is the default.
	var got Config
	if err := decodeConfig(raw, &got); err != nil {
		t.Fatalf("example: %v", err)
	}
	if a, b := mustYAML(t, got), mustYAML(t, defaultConfig()); !bytes.Equal(a, b) {
		t.Fatalf("example differs from the defaults:\nexample:\n%s\ndefaults:\n%s", a, b)
	}
	// Every option is written out with its comment, even those whose default is empty.
	if missing := undocumented(t, raw); len(missing) > 0 {
		t.Fatalf("options missing from %s or without a comment: %s", examplePath, strings.Join(missing, ", "))
	}
	if _, err := loadConfig([]string{"--config", examplePath}); err != nil {
		t.Fatalf("rumd serve refuses the example: %v", err)
	}

	// Control: the check notices an option left out, and one left without its comment.
	trimmed := strings.Replace(string(raw), "  # Time one API request may take before it is answered 503 timeout.\n  timeout: 30s\n", "", 1)
	if trimmed == string(raw) {
		t.Fatal("control: the query timeout lines were not found in the example")
	}
	if missing := undocumented(t, []byte(trimmed)); strings.Join(missing, ",") != "query.timeout" {
		t.Fatalf("control: a removed option gives %v, want query.timeout", missing)
	}
	uncommented := strings.Replace(string(raw), "  # Ceiling of CLS.\n", "", 1)
	if missing := undocumented(t, []byte(uncommented)); strings.Join(missing, ",") != "validation.max_cls" {
		t.Fatalf("control: an uncommented option gives %v, want validation.max_cls", missing)
	}
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// undocumented lists the YAML keys of Config (nested sections included) that raw does not
// hold, or holds without a comment above or beside them.
func undocumented(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) != 1 {
		t.Fatalf("example is not one YAML document: %v", err)
	}
	var missing []string
	var walk func(typ reflect.Type, node *yaml.Node, prefix string)
	walk = func(typ reflect.Type, node *yaml.Node, prefix string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || f.Tag.Get("alias") != "" { // an old name is not in the example
				continue
			}
			key, val := lookup(node, name)
			if key == nil || strings.TrimSpace(key.HeadComment+key.LineComment) == "" {
				missing = append(missing, prefix+name)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, val, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), doc.Content[0], "")
	return missing
}

// lookup finds key name in a mapping node: the key node and its value.
func lookup(m *yaml.Node, name string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// TestExampleCommentsStateTheRules checks what the comments of rumd.example.yaml and the
// flag help say where an operator sets a token or the country database: the token length
// rule that start-up enforces, and that an empty geoip loads the bundled database while
// `none` turns countries off.
func TestExampleCommentsStateTheRules(t *testing.T) {
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	comment := func(key string) string {
		k, _ := lookup(doc.Content[0], key)
		if k == nil {
			t.Fatalf("%s missing from the example", key)
		}
		return strings.Join(strings.Fields(strings.ReplaceAll(k.HeadComment+" "+k.LineComment, "#", " ")), " ")
	}
	var path string
	fs := serveFlags(&Config{Caps: map[string]int{}}, &path)
	rule := fmt.Sprintf("at least %d characters", server.MinTokenLen)
	for _, key := range []string{"token", "metrics_token", "scrape_token"} {
		if c := comment(key); !strings.Contains(c, rule) {
			t.Errorf("example comment of %s %q does not say %q", key, c, rule)
		}
		flagName := strings.ReplaceAll(key, "_", "-")
		if u := fs.Lookup(flagName).Usage; !strings.Contains(u, rule) {
			t.Errorf("--%s help %q does not say %q", flagName, u, rule)
		}
	}
	// The rule stated is the rule enforced: one character fewer is refused, that many is not.
	short := strings.Repeat("x", server.MinTokenLen-1)
	if _, err := loadConfig([]string{"--token", short}); err == nil {
		t.Errorf("a token of %d characters was accepted", len(short))
	}
	if _, err := loadConfig([]string{"--token", short + "x"}); err != nil {
		t.Errorf("a token of %d characters was refused: %v", server.MinTokenLen, err)
	}

	geo := comment("geoip")
	_, empty, _ := strings.Cut(geo, "empty:")
	if empty, _, _ = strings.Cut(empty, ";"); strings.Contains(empty, "XX") || !strings.Contains(empty, "bundled") {
		t.Errorf("example comment of geoip says empty means %q; empty loads the bundled database", empty)
	}
	if !strings.Contains(geo, noGeoIP+": no database, every country is XX") {
		t.Errorf("example comment of geoip %q does not say %q turns countries off", geo, noGeoIP)
	}
}
