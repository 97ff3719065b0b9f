package define

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The JSON shapes below are Grafana's dashboard model (schemaVersion 39); field order is
// fixed so the generated files are stable and readable.

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

type thresholds struct {
	Mode  string `json:"mode"`
	Steps []step `json:"steps"`
}

type colorMode struct {
	Mode       string `json:"mode"`
	FixedColor string `json:"fixedColor,omitempty"`
}

type defaults struct {
	Color      *colorMode     `json:"color,omitempty"`
	Unit       string         `json:"unit,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Thresholds thresholds     `json:"thresholds"`
	Custom     map[string]any `json:"custom,omitempty"`
}

type matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

type property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

type override struct {
	Matcher    matcher    `json:"matcher"`
	Properties []property `json:"properties"`
}

type fieldConfig struct {
	Defaults  defaults   `json:"defaults"`
	Overrides []override `json:"overrides"`
}

type panelJSON struct {
	ID              int            `json:"id"`
	Type            PanelKind      `json:"type"`
	Title           string         `json:"title"`
	Description     string         `json:"description,omitempty"`
	Collapsed       *bool          `json:"collapsed,omitempty"`
	Datasource      *dsRef         `json:"datasource,omitempty"`
	GridPos         gridPos        `json:"gridPos"`
	Targets         []any          `json:"targets,omitempty"`
	FieldConfig     *fieldConfig   `json:"fieldConfig,omitempty"`
	Options         map[string]any `json:"options,omitempty"`
	MaxDataPoints   int            `json:"maxDataPoints,omitempty"`
	Transformations []any          `json:"transformations,omitempty"`
	Panels          []any          `json:"panels,omitempty"`
}

type graphiteTargetJSON struct {
	RefID      string `json:"refId"`
	Datasource dsRef  `json:"datasource"`
	Target     string `json:"target"`
	TextEditor bool   `json:"textEditor"`
}

type promTargetJSON struct {
	RefID        string `json:"refId"`
	Datasource   dsRef  `json:"datasource"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Range        bool   `json:"range"`
	Instant      bool   `json:"instant"`
	EditorMode   string `json:"editorMode"`
}

type option struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}

type current struct {
	Selected bool `json:"selected"`
	Text     any  `json:"text"`
	Value    any  `json:"value"`
}

type varJSON struct {
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	Type       string   `json:"type"`
	Datasource *dsRef   `json:"datasource,omitempty"`
	Query      any      `json:"query"`
	Definition string   `json:"definition,omitempty"`
	Refresh    int      `json:"refresh"`
	Regex      string   `json:"regex"`
	Sort       int      `json:"sort"`
	IncludeAll bool     `json:"includeAll"`
	Multi      bool     `json:"multi"`
	Hide       int      `json:"hide"`
	Options    []option `json:"options"`
	AllValue   string   `json:"allValue,omitempty"`
	Current    any      `json:"current"` // current, or {} to open on the first option
}

type link struct {
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	Title       string   `json:"title"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	Icon        string   `json:"icon"`
	TargetBlank bool     `json:"targetBlank"`
	Tooltip     string   `json:"tooltip"`
	URL         string   `json:"url"`
}

type dashboardJSON struct {
	UID                  string            `json:"uid"`
	Title                string            `json:"title"`
	Description          string            `json:"description"`
	Tags                 []string          `json:"tags"`
	Timezone             string            `json:"timezone"`
	Editable             bool              `json:"editable"`
	GraphTooltip         int               `json:"graphTooltip"`
	SchemaVersion        int               `json:"schemaVersion"`
	Version              int               `json:"version"`
	FiscalYearStartMonth int               `json:"fiscalYearStartMonth"`
	LiveNow              bool              `json:"liveNow"`
	Time                 map[string]string `json:"time"`
	Refresh              string            `json:"refresh"`
	Timepicker           map[string]any    `json:"timepicker"`
	Annotations          map[string]any    `json:"annotations"`
	Links                []link            `json:"links"`
	Templating           struct {
		List []varJSON `json:"list"`
	} `json:"templating"`
	Panels []panelJSON `json:"panels"`
}

// DataSourceVar is the name of every dashboard's data-source variable.
const DataSourceVar = "datasource"

// set holds what differs between the two renderings.
type set struct {
	b       Backend
	dsType  string
	dsUID   string
	tag     string
	per     string
	uidPre  string
	titleSu string
}

func setFor(b Backend) set {
	if b == Graphite {
		return set{b: b, dsType: "graphite", dsUID: GraphiteUID, tag: "rumd", per: "per step"}
	}
	return set{b: b, dsType: "prometheus", dsUID: PrometheusUID, tag: "rumd-prometheus", per: "per second", uidPre: "prom-", titleSu: " (Prometheus)"}
}

// ds is what panels, targets and query variables name: the data-source variable.
func (s set) ds() dsRef { return dsRef{Type: s.dsType, UID: "${" + DataSourceVar + "}"} }

func (s set) text(t string) string {
	t = strings.ReplaceAll(t, "{per}", s.per)
	if s.b == Prometheus {
		t = promText(t)
	}
	return t
}

// Render returns the dashboard's JSON for backend b.
func Render(d Dashboard, b Backend) ([]byte, error) {
	s := setFor(b)
	out := dashboardJSON{
		UID: s.uidPre + d.UID, Title: d.Title + s.titleSu, Description: d.Description,
		Tags: []string{s.tag}, Timezone: "browser", Editable: true, GraphTooltip: 1, SchemaVersion: 39, Version: 1,
		Time: map[string]string{"from": d.From, "to": "now"}, Refresh: "1m",
		Timepicker: map[string]any{}, Annotations: map[string]any{"list": []any{}},
		Links: []link{{Type: "dashboards", Tags: []string{s.tag}, AsDropdown: true, Title: "rumd dashboards", KeepTime: true, Icon: "external link"}},
	}
	out.Templating.List = append(out.Templating.List, s.dataSourceVar())
	for _, v := range d.Vars {
		out.Templating.List = append(out.Templating.List, s.variable(v))
	}
	multi := map[string]bool{}
	for _, v := range d.Vars {
		multi[v.Name] = v.All
	}
	for i, p := range d.Panels {
		out.Panels = append(out.Panels, s.panel(i+1, p, multi))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s set) dataSourceVar() varJSON {
	return varJSON{
		Name: DataSourceVar, Label: "Data source", Type: "datasource", Query: s.dsType, Refresh: 1,
		Options: []option{}, Current: current{Selected: true, Text: s.dsUID, Value: s.dsUID},
	}
}

func (s set) variable(v Var) varJSON {
	out := varJSON{Name: v.Name, Label: v.Label, Options: []option{}}
	if v.Kind == Custom {
		out.Type = "custom"
		def := v.Default
		if def == "" {
			def = v.Options[0]
		}
		var q []string
		for _, o := range v.Options {
			val := o
			if s.b == Prometheus && v.isMetric() {
				val = FamilyName(o)
			} else if s.b == Prometheus && v.isStat() {
				val = quantile(o)
			}
			if val == o {
				q = append(q, o)
			} else {
				q = append(q, o+" : "+val)
			}
			out.Options = append(out.Options, option{Selected: o == def, Text: o, Value: val})
			if o == def {
				out.Current = current{Selected: true, Text: o, Value: val}
			}
		}
		out.Query = strings.Join(q, ",")
		return out
	}
	ds := s.ds()
	out.Type, out.Datasource, out.Refresh, out.Sort = "query", &ds, 2, 1
	if s.b == Graphite {
		q := "rumd." + graphiteView(v.View) + ".*"
		out.Query, out.Definition = q, q
		if v.Exclude != "" {
			// Grafana interpolates variables into the regex; the first group is the value.
			out.Regex = "/^(?!${" + v.Exclude + ":regex}$)(.*)$/"
		}
	} else {
		m := []string{`view="` + ViewLabel(v.View) + `"`}
		if v.Exclude != "" {
			m = append(m, v.Dim+`!="$`+v.Exclude+`"`)
		}
		q := "label_values(" + FamilyName(v.Metric) + "{" + strings.Join(m, ", ") + "}, " + v.Dim + ")"
		out.Query = map[string]any{"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
		out.Definition = q
	}
	if v.All {
		out.IncludeAll, out.Multi = true, true
		out.AllValue = "*"
		if s.b == Prometheus {
			out.AllValue = ".*"
		}
		out.Current = current{Selected: true, Text: []string{"All"}, Value: []string{"$__all"}}
	} else {
		out.Current = map[string]any{}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func (s set) panel(id int, p Panel, multi map[string]bool) panelJSON {
	out := panelJSON{ID: id, Type: p.Kind, Title: s.text(p.Title), Description: s.text(p.Description),
		GridPos: gridPos{H: p.H, W: p.W, X: p.X, Y: p.Y}}
	if p.Kind == Row {
		out.Collapsed = ptr(false)
		return out
	}
	ds := s.ds()
	out.Datasource = &ds
	var ts []target
	if s.b == Graphite {
		ts = graphiteTargets(p)
	} else {
		ts = promTargets(p, multi)
	}
	for _, t := range ts {
		if s.b == Graphite {
			out.Targets = append(out.Targets, graphiteTargetJSON{RefID: t.refID, Datasource: ds, Target: t.text, TextEditor: true})
		} else {
			out.Targets = append(out.Targets, promTargetJSON{RefID: t.refID, Datasource: ds, Expr: t.text, LegendFormat: t.legend,
				Range: !t.instant, Instant: t.instant, EditorMode: "code"})
		}
	}
	if p.WholeRange && s.b == Graphite {
		out.MaxDataPoints = 1
	}
	out.FieldConfig = s.fieldConfig(p)
	out.Options, out.Transformations = options(p)
	return out
}

// fieldConfig sets the unit and thresholds from the panel's metric.
func (s set) fieldConfig(p Panel) *fieldConfig {
	fc := &fieldConfig{Overrides: []override{}}
	d := &fc.Defaults
	d.Color = &colorMode{Mode: "palette-classic"}
	d.Thresholds = thresholds{Mode: "absolute", Steps: []step{{Color: "blue"}}}
	vit, isVital := Vitals[p.Metric]
	switch {
	case p.Metric == "count":
		d.Unit = "short"
	case p.Metric == "cls":
		d.Unit, d.Decimals = "none", ptr(3)
	case p.Metric == "$metric" && p.Kind == Table:
		// One value column for every verdict: the verdict's text carries the unit.
		d.Unit = "none"
	case p.Metric == "$metric":
		d.Unit, d.Decimals = "ms", ptr(0)
		fc.Overrides = append(fc.Overrides, override{
			Matcher:    matcher{ID: "byRegexp", Options: "^cls .*"},
			Properties: []property{{ID: "unit", Value: "none"}, {ID: "decimals", Value: 3}},
		})
	default:
		d.Unit = "ms"
		if p.Kind != TimeSeries {
			d.Decimals = ptr(0)
		}
	}
	if isVital {
		d.Thresholds.Steps = []step{{Color: "green"}, {Color: "orange", Value: ptr(vit.good)}, {Color: "red", Value: ptr(vit.poor)}}
		if p.Kind != TimeSeries {
			d.Color = &colorMode{Mode: "thresholds"}
		}
	}
	switch p.Kind {
	case TimeSeries:
		custom := map[string]any{"drawStyle": "line", "lineWidth": 2, "fillOpacity": 0, "showPoints": "never",
			"spanNulls": false, "axisSoftMin": 0, "thresholdsStyle": map[string]any{"mode": "off"}}
		if p.Bars {
			custom["drawStyle"], custom["lineWidth"], custom["fillOpacity"] = "bars", 1, 60
		}
		if isVital {
			custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
		}
		d.Custom = custom
		if p.DashedB {
			fc.Overrides = append(fc.Overrides, override{Matcher: matcher{ID: "byFrameRefID", Options: "B"},
				Properties: []property{{ID: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}}}})
		}
		// Percentile lines of one metric: one fixed colour each, distinct from the
		// threshold lines' green, orange and red.
		for _, q := range p.Queries {
			if len(q.Stats) > 1 && len(q.By) == 0 {
				for i, st := range q.Stats {
					fc.Overrides = append(fc.Overrides, override{Matcher: matcher{ID: "byName", Options: st},
						Properties: []property{{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": lineColours[i%len(lineColours)]}}}})
				}
			}
		}
	case Table:
		d.Custom = map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "inspect": false}
		fc.Overrides = append(fc.Overrides, override{Matcher: matcher{ID: "byName", Options: "Value"},
			Properties: []property{{ID: "custom.width", Value: 160}}})
	}
	return fc
}

var lineColours = []string{"blue", "purple", "yellow"}

var lastNotNull = map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}

// options returns the panel type's options and transformations.
func options(p Panel) (map[string]any, []any) {
	reduceRows := map[string]any{"id": "reduce", "options": map[string]any{"reducers": []string{"lastNotNull"}, "mode": "seriesToRows", "includeTimeField": false}}
	switch p.Kind {
	case Stat:
		colour := "value"
		if _, ok := Vitals[p.Metric]; ok {
			colour = "background"
		}
		return map[string]any{"reduceOptions": lastNotNull, "colorMode": colour, "graphMode": "none", "justifyMode": "center",
			"textMode": "value_and_name", "orientation": "auto"}, nil
	case TimeSeries:
		return map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"}}, nil
	case BarGauge:
		return map[string]any{"reduceOptions": lastNotNull, "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
			"valueMode": "color", "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16, "maxVizHeight": 300}, nil
	case PieChart:
		return map[string]any{"reduceOptions": lastNotNull, "pieType": "donut", "displayLabels": []string{"name", "percent"},
			"legend":  map[string]any{"displayMode": "table", "placement": "right", "showLegend": true, "values": []string{"value", "percent"}},
			"tooltip": map[string]any{"mode": "single", "sort": "none"}}, nil
	case Table:
		return map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false, "reducer": []string{"sum"}, "countRows": false, "fields": ""}},
			[]any{reduceRows, map[string]any{"id": "organize", "options": map[string]any{"excludeByName": map[string]any{}, "indexByName": map[string]any{},
				"renameByName": map[string]any{"Field": "Comparison (delta is b − a)", "Last *": "Value"}}}}
	case GeoMap:
		return map[string]any{
			// view.id "coords" honours lat/lon; zoom is an integer level.
			"view":     map[string]any{"id": "coords", "lat": 20, "lon": 0, "zoom": 2, "allLayers": true},
			"controls": map[string]any{"showZoom": true, "mouseWheelZoom": false, "showAttribution": true},
			"basemap":  map[string]any{"type": "default", "name": "Basemap", "config": map[string]any{}},
			"layers": []any{map[string]any{
				"type": "markers", "name": p.Title, "tooltip": true,
				"location": map[string]any{"mode": "lookup", "lookup": "Field", "gazetteer": "public/gazetteer/countries.json"},
				"config": map[string]any{"showLegend": true, "style": map[string]any{
					"size":       map[string]any{"fixed": 10, "min": 6, "max": 24, "field": "Last *"},
					"color":      map[string]any{"field": "Last *"},
					"opacity":    0.6,
					"symbol":     map[string]any{"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
					"text":       map[string]any{"mode": "field", "field": "Field", "fixed": ""},
					"textConfig": map[string]any{"fontSize": 10, "offsetY": -14, "textAlign": "center", "textBaseline": "middle"},
				}},
			}},
			"tooltip": map[string]any{"mode": "details"},
		}, []any{reduceRows}
	}
	return nil, nil
}
