package dashboards

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"gopkg.in/yaml.v3"

	"rumd/internal/series"
)

type panel struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID  string `json:"refId"`
		Target string `json:"target"`
		Expr   string `json:"expr"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
}

func load(t *testing.T) map[string]dashboard {
	t.Helper()
	names, err := fs.Glob(FS(), "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no dashboards embedded: %v", err)
	}
	out := map[string]dashboard{}
	for _, n := range names {
		b, err := fs.ReadFile(FS(), n)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[n] = d
	}
	return out
}

// dataSources reads the uids and types the provisioning file declares.
func dataSources(t *testing.T) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(FS(), "provisioning/datasources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Datasources {
		out[d.UID] = d.Type
	}
	if f.APIVersion != 1 || out["rumd"] != "graphite" || out["rumd-prometheus"] != "prometheus" {
		t.Fatalf("datasources.yaml declares %v (apiVersion %d)", out, f.APIVersion)
	}
	return out
}

func TestShippedDashboards(t *testing.T) {
	ds := dataSources(t)
	uids := map[string]string{}
	titles := map[string]bool{}
	for name, d := range load(t) {
		if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
			t.Errorf("%s: uid %q, title %q, schemaVersion %d", name, d.UID, d.Title, d.SchemaVersion)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", name, other, d.UID)
		}
		uids[d.UID] = name
		titles[d.Title] = true
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s/%s: grid position %+v", name, p.Title, p.GridPos)
			}
			uid, _ := p.Datasource["uid"].(string)
			typ, _ := p.Datasource["type"].(string)
			if ds[uid] == "" || ds[uid] != typ {
				t.Errorf("%s/%s: data source %v is not provisioned", name, p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s/%s has no target", name, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Target == "" && tg.Expr == "" {
					t.Errorf("%s/%s: target %s is empty", name, p.Title, tg.RefID)
				}
			}
		}
	}
	for _, want := range []string{"rumd / Overview", "rumd / World", "rumd / Pages", "rumd / Devices and navigation types", "rumd / Before and after", "rumd / Probes and experiments", "rumd / Health"} {
		if !titles[want] {
			t.Errorf("no dashboard titled %q", want)
		}
	}
}

// vitals are the web.dev good / poor thresholds every panel of one vital must carry.
var vitals = map[string][2]float64{"lcp": {2500, 4000}, "inp": {200, 500}, "cls": {0.1, 0.25}, "fcp": {1800, 3000}, "ttfb": {800, 1800}}

var metricNode = regexp.MustCompile(`\.(lcp|inp|cls|fcp|ttfb|load)\.`)

func TestWebVitalThresholds(t *testing.T) {
	seen := map[string]int{}
	for name, d := range load(t) {
		for _, p := range d.Panels {
			steps := p.FieldConfig.Defaults.Thresholds.Steps
			var vals []float64
			for _, s := range steps {
				if s.Value != nil {
					vals = append(vals, *s.Value)
				}
			}
			metrics := map[string]bool{}
			for _, tg := range p.Targets {
				for _, m := range metricNode.FindAllStringSubmatch(tg.Target, -1) {
					metrics[m[1]] = true
				}
			}
			if len(vals) == 0 || p.Datasource["uid"] != "rumd" {
				continue
			}
			if len(metrics) != 1 {
				t.Errorf("%s/%s has thresholds %v but shows metrics %v", name, p.Title, vals, metrics)
				continue
			}
			for m := range metrics {
				want, ok := vitals[m]
				if !ok || len(vals) != 2 || vals[0] != want[0] || vals[1] != want[1] {
					t.Errorf("%s/%s (%s): thresholds %v, want %v", name, p.Title, m, vals, want)
				}
				if steps[0].Color != "green" || steps[1].Color != "orange" || steps[2].Color != "red" {
					t.Errorf("%s/%s: threshold colours %+v", name, p.Title, steps)
				}
				seen[m]++
			}
		}
	}
	for m := range vitals {
		if seen[m] == 0 {
			t.Errorf("no panel shows the %s thresholds", m)
		}
	}
}

var promName = regexp.MustCompile(`\brumd_[a-z0-9_]+`)

// TestMetricNamesExist checks that every metric a dashboard names exists: rumd metric
// names (the Graphite path's metric node) in the series model, and every rumd_* Prometheus
// name as a string in rumd's Go source, histogram suffixes aside.
func TestMetricNamesExist(t *testing.T) {
	source := goSource(t)
	known := map[string]bool{}
	for _, m := range series.MetricNames() {
		known[m] = true
	}
	node := regexp.MustCompile(`rumd\.[^.(),' ]+(?:\.[^.(),' ]+)*\.(\{[a-z_,]+\}|[a-z_$]+)\.[^.(),' ]+`)
	checked := 0
	for name, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, m := range node.FindAllStringSubmatch(tg.Target, -1) {
					for _, metric := range strings.Split(strings.Trim(m[1], "{}"), ",") {
						if strings.HasPrefix(metric, "$") {
							continue // a template variable; its options are checked below
						}
						checked++
						if !known[metric] {
							t.Errorf("%s/%s: metric %q in %s is not one of %v", name, p.Title, metric, tg.Target, series.MetricNames())
						}
					}
				}
				for _, n := range promName.FindAllString(tg.Expr, -1) {
					checked++
					base := n
					for _, suf := range []string{"_bucket", "_sum", "_count"} {
						if b := strings.TrimSuffix(n, suf); b != n && strings.Contains(source, `"`+b+`"`) {
							base = b
						}
					}
					if !strings.Contains(source, `"`+base+`"`) {
						t.Errorf("%s/%s: %s is not a metric name in rumd's Go source", name, p.Title, n)
					}
				}
			}
		}
		// Custom "metric" variables list metric names too.
		b, _ := fs.ReadFile(FS(), name)
		var vars struct {
			Templating struct {
				List []struct {
					Name, Type, Query string
				}
			}
		}
		json.Unmarshal(b, &vars)
		for _, v := range vars.Templating.List {
			if v.Type == "custom" && v.Name == "metric" {
				for _, m := range strings.Split(v.Query, ",") {
					checked++
					if !known[m] {
						t.Errorf("%s: variable metric offers %q", name, m)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d metric names found in the dashboards; the extraction is broken", checked)
	}
}

// goSource concatenates rumd's non-test Go files.
func goSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != "..") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.Write(src)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMount(t *testing.T) {
	app := fiber.New()
	if err := Mount(app); err != nil {
		t.Fatal(err)
	}
	get := func(path string, hdr ...string) (int, string, []byte, string) {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header.Get("ETag")
	}
	code, _, body, _ := get("/dashboards/")
	var index struct {
		Dashboards   []Dashboard `json:"dashboards"`
		Provisioning []string    `json:"provisioning"`
		Archive      string      `json:"archive"`
	}
	if err := json.Unmarshal(body, &index); code != 200 || err != nil {
		t.Fatalf("index: %d %v %s", code, err, body)
	}
	if len(index.Dashboards) != len(load(t)) || len(index.Provisioning) != 2 {
		t.Errorf("index %+v", index)
	}
	for _, d := range index.Dashboards {
		code, ctype, b, etag := get(d.URL)
		want, _ := fs.ReadFile(FS(), d.File)
		if code != 200 || ctype != "application/json" || !bytes.Equal(b, want) || etag == "" {
			t.Errorf("%s: %d %s, %d bytes, etag %q", d.URL, code, ctype, len(b), etag)
		}
		if code, _, _, _ := get(d.URL, "If-None-Match", etag); code != 304 {
			t.Errorf("%s with its ETag: %d, want 304", d.URL, code)
		}
	}
	for _, p := range index.Provisioning {
		if code, ctype, _, _ := get(p); code != 200 || !strings.HasPrefix(ctype, "application/yaml") {
			t.Errorf("%s: %d %s", p, code, ctype)
		}
	}
	if code, _, _, _ := get("/dashboards/nope.json"); code != 404 {
		t.Errorf("missing file: %d", code)
	}
	if code, _, _, _ := get("/dashboards/../go.mod"); code == 200 {
		t.Errorf("path escape answered 200")
	}
	code, _, tgz, _ := get(index.Archive)
	if code != 200 {
		t.Fatalf("archive: %d", code)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var entries []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, h.Name)
	}
	sort.Strings(entries)
	want := []string{"provisioning/dashboards/rumd.yaml", "provisioning/datasources/rumd.yaml"}
	for _, d := range index.Dashboards {
		want = append(want, "dashboards/rumd/"+d.File)
	}
	sort.Strings(want)
	if strings.Join(entries, ",") != strings.Join(want, ",") {
		t.Errorf("archive holds %v, want %v", entries, want)
	}
}
