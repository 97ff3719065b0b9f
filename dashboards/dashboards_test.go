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
	"path"
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
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any
			Current    struct {
				Value any `json:"value"`
			} `json:"current"`
			Options []struct {
				Text  string `json:"text"`
				Value string `json:"value"`
			} `json:"options"`
		} `json:"list"`
	} `json:"templating"`
}

// dataSource resolves a panel's data source as Grafana opens the dashboard: a reference to a
// data-source variable is that variable's current value, of the type the variable lists.
func (d dashboard) dataSource(ref map[string]any) (uid, typ string) {
	uid, _ = ref["uid"].(string)
	typ, _ = ref["type"].(string)
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && (uid == "${"+v.Name+"}" || uid == "$"+v.Name) {
			cur, _ := v.Current.Value.(string)
			if q, _ := v.Query.(string); q != typ {
				return "", "variable " + v.Name + " lists " + q + " data sources, the panel wants " + typ
			}
			return cur, typ
		}
	}
	return uid, typ
}

// load reads the Graphite set and the health dashboard.
func load(t *testing.T) map[string]dashboard { return loadSet(t, ".") }

// loadSet reads the dashboards of one directory of FS.
func loadSet(t *testing.T, dir string) map[string]dashboard {
	t.Helper()
	names, err := fs.Glob(FS(), path.Join(dir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no dashboards embedded in %s: %v", dir, err)
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

// dataSources reads the uids and types a provisioning file declares. None may be the
// default: Grafana refuses to start when two provisioned data sources are.
func dataSources(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(FS(), file)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID, Type, URL string
			IsDefault      *bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Datasources {
		out[d.UID] = d.Type
		if d.IsDefault != nil && *d.IsDefault {
			t.Errorf("%s: data source %s is made the default", file, d.UID)
		}
	}
	if f.APIVersion != 1 || out["rumd-prometheus"] != "prometheus" {
		t.Fatalf("%s declares %v (apiVersion %d)", file, out, f.APIVersion)
	}
	return out
}

func TestProvisioning(t *testing.T) {
	if ds := dataSources(t, "provisioning/datasources.yaml"); ds["rumd"] != "graphite" || len(ds) != 2 {
		t.Errorf("Graphite route declares %v", ds)
	}
	if ds := dataSources(t, "prometheus/provisioning/datasources.yaml"); len(ds) != 1 {
		t.Errorf("Prometheus route declares %v", ds)
	}
	paths := map[string]bool{}
	for _, file := range []string{"provisioning/dashboards.yaml", "prometheus/provisioning/dashboards.yaml"} {
		b, err := fs.ReadFile(FS(), file)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			APIVersion int `yaml:"apiVersion"`
			Providers  []struct {
				Name, Folder, Type string
				Options            struct{ Path string }
			}
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		if f.APIVersion != 1 || len(f.Providers) != 1 || f.Providers[0].Type != "file" || f.Providers[0].Options.Path == "" || paths[f.Providers[0].Options.Path] {
			t.Errorf("%s: %+v", file, f)
			continue
		}
		paths[f.Providers[0].Options.Path] = true
	}
}

func TestShippedDashboards(t *testing.T) {
	t.Run("graphite", func(t *testing.T) {
		checkSet(t, load(t), dataSources(t, "provisioning/datasources.yaml"), []string{"rumd / Overview", "rumd / World", "rumd / Pages", "rumd / Devices and navigation types", "rumd / Before and after", "rumd / Probes and experiments", "rumd / Health"})
	})
	t.Run("prometheus", func(t *testing.T) {
		checkSet(t, loadSet(t, PrometheusDir), dataSources(t, "prometheus/provisioning/datasources.yaml"), []string{"rumd / Overview (Prometheus)", "rumd / World (Prometheus)", "rumd / Pages (Prometheus)", "rumd / Devices and navigation types (Prometheus)", "rumd / Before and after (Prometheus)", "rumd / Probes and experiments (Prometheus)"})
	})
	// Both sets can live in one Grafana: no uid is shared.
	uids := map[string]string{}
	for _, set := range []map[string]dashboard{load(t), loadSet(t, PrometheusDir)} {
		for name, d := range set {
			if other, dup := uids[d.UID]; dup {
				t.Errorf("%s and %s share uid %s", name, other, d.UID)
			}
			uids[d.UID] = name
		}
	}
}

func checkSet(t *testing.T, set map[string]dashboard, ds map[string]string, wantTitles []string) {
	uids := map[string]string{}
	titles := map[string]bool{}
	for name, d := range set {
		if d.dsVar() == "" {
			t.Errorf("%s has no data-source variable", name)
		}
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
			uid, typ := d.dataSource(p.Datasource)
			if ds[uid] == "" || ds[uid] != typ {
				t.Errorf("%s/%s: data source %v (%s %s) is not provisioned", name, p.Title, p.Datasource, uid, typ)
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
	for _, want := range wantTitles {
		if !titles[want] {
			t.Errorf("no dashboard titled %q", want)
		}
	}
	if len(titles) != len(wantTitles) {
		t.Errorf("%d dashboards, want %d", len(titles), len(wantTitles))
	}
}

// dsVar is the name of the dashboard's data-source variable.
func (d dashboard) dsVar() string {
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			return v.Name
		}
	}
	return ""
}

// vitals are the web.dev good / poor thresholds every panel of one vital must carry.
var vitals = map[string][2]float64{"lcp": {2500, 4000}, "inp": {200, 500}, "cls": {0.1, 0.25}, "fcp": {1800, 3000}, "ttfb": {800, 1800}}

var metricNode = regexp.MustCompile(`\.(lcp|inp|cls|fcp|ttfb|load)\.`)

// familyNode finds the metric of a PromQL family name of the Prometheus set.
var familyNode = regexp.MustCompile(`\brumd_([a-z_]+?)(?:_milliseconds)?\{`)

func TestWebVitalThresholds(t *testing.T) {
	for _, set := range []struct {
		dir, uid string
		metrics  func(target, expr string) [][]string
	}{
		{".", "rumd", func(target, _ string) [][]string { return metricNode.FindAllStringSubmatch(target, -1) }},
		{PrometheusDir, "rumd-prometheus", func(_, expr string) [][]string { return familyNode.FindAllStringSubmatch(expr, -1) }},
	} {
		t.Run(set.dir, func(t *testing.T) { checkThresholds(t, loadSet(t, set.dir), set.uid, set.metrics) })
	}
}

func checkThresholds(t *testing.T, dashboards map[string]dashboard, rumUID string, find func(target, expr string) [][]string) {
	seen := map[string]int{}
	for name, d := range dashboards {
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
				for _, m := range find(tg.Target, tg.Expr) {
					metrics[m[1]] = true
				}
			}
			if uid, _ := d.dataSource(p.Datasource); len(vals) == 0 || uid != rumUID {
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

// nativeHistogramFamilies are the families rumd's native-histogram exposition serves, one
// per metric (docs/dashboards.md), stated here once: the Prometheus set may name no other
// rumd_* family. When the exposition's own naming function is merged, compare with it too.
var nativeHistogramFamilies = map[string]string{
	"dns": "rumd_dns_milliseconds", "connect": "rumd_connect_milliseconds", "tls": "rumd_tls_milliseconds",
	"ttfb": "rumd_ttfb_milliseconds", "download": "rumd_download_milliseconds",
	"dom_interactive": "rumd_dom_interactive_milliseconds", "dcl": "rumd_dcl_milliseconds",
	"load": "rumd_load_milliseconds", "fcp": "rumd_fcp_milliseconds", "lcp": "rumd_lcp_milliseconds",
	"inp": "rumd_inp_milliseconds", "cls": "rumd_cls",
	"probe_dns": "rumd_probe_dns_milliseconds", "probe_connect": "rumd_probe_connect_milliseconds",
	"probe_tls": "rumd_probe_tls_milliseconds", "probe_ttfb": "rumd_probe_ttfb_milliseconds",
	"probe_total": "rumd_probe_total_milliseconds",
}

var viewLabel = regexp.MustCompile(`\bview="([^"]*)"`)

// TestPrometheusNamesExist checks the Prometheus set's names: every rumd_* family is one of
// the exposition's, every view label value is one of rumd's views, and the metric variable
// offers families.
func TestPrometheusNamesExist(t *testing.T) {
	families := map[string]bool{}
	for _, m := range series.MetricNames() {
		want, ok := nativeHistogramFamilies[m]
		if !ok {
			t.Errorf("metric %s has no expected family", m)
		}
		if got := FamilyName(m); got != want {
			t.Errorf("FamilyName(%s) = %s, want %s", m, got, want)
		}
		families[want] = true
	}
	if len(nativeHistogramFamilies) != len(series.MetricNames()) {
		t.Errorf("%d expected families for %d metrics", len(nativeHistogramFamilies), len(series.MetricNames()))
	}
	views := map[string]bool{}
	for _, v := range series.DefaultViews() {
		views[v.String()] = true
	}
	names, labels := 0, 0
	check := func(where, text string) {
		for _, n := range promName.FindAllString(text, -1) {
			names++
			if !families[n] {
				t.Errorf("%s: %s is not a family of rumd's exposition", where, n)
			}
		}
		for _, m := range viewLabel.FindAllStringSubmatch(text, -1) {
			labels++
			if !views[m[1]] {
				t.Errorf("%s: view=%q is none of rumd's views", where, m[1])
			}
		}
	}
	for name, d := range loadSet(t, PrometheusDir) {
		for _, v := range d.Templating.List {
			switch {
			case v.Type == "query":
				q, _ := v.Query.(map[string]any)
				text, _ := q["query"].(string)
				if text == "" {
					t.Errorf("%s: variable %s has no PromQL query: %v", name, v.Name, v.Query)
				}
				check(name+": variable "+v.Name, text)
			case v.Type == "custom" && v.Name == "metric":
				for _, o := range v.Options {
					check(name+": variable metric", o.Value)
					if o.Value != nativeHistogramFamilies[o.Text] {
						t.Errorf("%s: metric option %s has the value %s", name, o.Text, o.Value)
					}
				}
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Target != "" {
					t.Errorf("%s/%s: a Graphite target in the Prometheus set", name, p.Title)
				}
				check(name+"/"+p.Title, tg.Expr)
			}
		}
	}
	if names < 50 || labels < 50 {
		t.Errorf("only %d family names and %d view labels found; the extraction is broken", names, labels)
	}
	// The views PrometheusViews reports are the ones the set reads.
	for _, v := range PrometheusViews() {
		if !views[v] {
			t.Errorf("PrometheusViews lists %q, none of rumd's views", v)
		}
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
		PromArchive  string      `json:"prometheus_archive"`
	}
	if err := json.Unmarshal(body, &index); code != 200 || err != nil {
		t.Fatalf("index: %d %v %s", code, err, body)
	}
	if len(index.Dashboards) != len(load(t))+len(loadSet(t, PrometheusDir)) || len(index.Provisioning) != 4 {
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
	var graphiteSet, promSet []string
	for _, d := range index.Dashboards {
		if strings.HasPrefix(d.File, PrometheusDir+"/") {
			promSet = append(promSet, "dashboards/rumd-prometheus/"+path.Base(d.File))
		} else {
			graphiteSet = append(graphiteSet, "dashboards/rumd/"+d.File)
		}
	}
	checkArchive(t, get, index.Archive, append(graphiteSet, "provisioning/dashboards/rumd.yaml", "provisioning/datasources/rumd.yaml"))
	checkArchive(t, get, index.PromArchive, append(promSet, "dashboards/rumd-prometheus/health.json",
		"provisioning/dashboards/rumd-prometheus.yaml", "provisioning/datasources/rumd-prometheus.yaml"))
}

// checkArchive fetches a route's tar.gz and compares its entries with want.
func checkArchive(t *testing.T, get func(string, ...string) (int, string, []byte, string), url string, want []string) {
	t.Helper()
	code, _, tgz, _ := get(url)
	if code != 200 {
		t.Fatalf("archive %s: %d", url, code)
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
	sort.Strings(want)
	if strings.Join(entries, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %v, want %v", url, entries, want)
	}
}
