package dashboards

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// strictDecode decodes a dashboard with the Grafana Foundation SDK's strict decoder, which
// refuses unknown fields and values of the wrong type in the dashboard, its panels, the
// options and field config of every panel type and the queries of the data sources it
// knows (Prometheus; it has no Graphite query type, so Graphite targets are decoded
// loosely). Only missing required fields are tolerated: the SDK requires fields Grafana fills
// in with defaults on import.
func strictDecode(b []byte) []string {
	var d sdk.Dashboard
	err := d.UnmarshalJSONStrict(b)
	if err == nil {
		return nil
	}
	var errs cog.BuildErrors
	if !errors.As(err, &errs) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range errs {
		if e.Message != "required field is missing from input" {
			out = append(out, e.Error())
		}
	}
	return out
}

func TestStrictDecode(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	// Positive control: the decoder catches what it must, on a shipped dashboard.
	good, err := fs.ReadFile(FS(), "world.json")
	if err != nil {
		t.Fatal(err)
	}
	prom, err := fs.ReadFile(FS(), PrometheusDir+"/world.json")
	if err != nil {
		t.Fatal(err)
	}
	for what, bad := range map[string]string{
		"a fractional geomap zoom":      strings.Replace(string(good), `"zoom": 2`, `"zoom": 1.3`, 1),
		"an unknown panel field":        strings.Replace(string(good), `"gridPos":`, `"gridPosition": {}, "gridPos":`, 1),
		"a unit that is not a string":   strings.Replace(string(good), `"unit": "ms"`, `"unit": 3`, 1),
		"an unknown Prometheus field":   strings.Replace(string(prom), `"legendFormat":`, `"legend": "", "legendFormat":`, 1),
		"an instant flag of wrong type": strings.Replace(string(prom), `"instant": true`, `"instant": "yes"`, 1),
	} {
		if bad == string(good) || bad == string(prom) {
			t.Fatalf("%s: the shipped file no longer holds the text replaced", what)
		}
		if errs := strictDecode([]byte(bad)); len(errs) == 0 {
			t.Errorf("%s decodes without error", what)
		}
	}
	n := 0
	for _, pattern := range []string{"*.json", PrometheusDir + "/*.json"} {
		names, _ := fs.Glob(FS(), pattern)
		for _, name := range names {
			b, err := fs.ReadFile(FS(), name)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, e := range strictDecode(b) {
				t.Errorf("%s: %s", name, e)
			}
		}
	}
	if n < 13 {
		t.Errorf("only %d dashboards decoded", n)
	}
}
