package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"rumd/dashboards/internal/define"
)

// PromQLTarget is one PromQL expression of the Prometheus set with its variables expanded,
// ready for Prometheus' HTTP API.
type PromQLTarget struct {
	Dashboard string // file name under prometheus/
	Panel     string // panel title as shipped, or "variable <name>"
	RefID     string
	Selection string // which variable values it was expanded with
	Expr      string
	// Instant marks a target Grafana evaluates once at the end of the range (GET
	// /api/v1/query); the others are range queries (/api/v1/query_range).
	Instant bool
	// LabelValues is set for a query variable's options: Expr is then a series selector, and
	// Grafana lists the options with GET /api/v1/label/<LabelValues>/values?match[]=<Expr>.
	LabelValues string
}

// PromQLSamples are the values PromQLTargets gives the template variables and Grafana's
// built-in interval variables.
type PromQLSamples struct {
	// Values holds a value seen in the data for each query variable without an All option
	// (probe, variant_a, variant_b); a variable with an All option is expanded to All (.*)
	// unless it is given a value here. A custom variable given a value here (e.g. shift: a
	// duration the test's data reaches back to) keeps it instead of taking each of its
	// options in turn.
	Values map[string]string
	// RateInterval stands for $__rate_interval and $__interval, Range for $__range.
	RateInterval, Range time.Duration
}

// PrometheusViews lists the view label values the Prometheus set reads: rumd's
// native-histogram exposition must expose these views for every panel to have data.
func PrometheusViews() []string { return define.PrometheusViews() }

// FamilyName is the Prometheus family the dashboards read for a metric (e.g. ttfb →
// rumd_ttfb_milliseconds, cls → rumd_cls).
func FamilyName(metric string) string { return define.FamilyName(metric) }

type promVar struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Current    struct {
		Text  any `json:"text"`
		Value any `json:"value"`
	} `json:"current"`
	Options []struct {
		Text  string `json:"text"`
		Value string `json:"value"`
	} `json:"options"`
}

type promDashboard struct {
	Templating struct {
		List []promVar `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID   string `json:"refId"`
			Expr    string `json:"expr"`
			Instant bool   `json:"instant"`
		} `json:"targets"`
	} `json:"panels"`
}

var promVarRef = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]`)

// labelValues reads a Prometheus label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// PromQLTargets returns every PromQL expression of the shipped Prometheus set, with the
// variables expanded as Grafana expands them: the dashboard as it opens, then each option of
// each custom variable (metric, stat, shift) not fixed by s.Values in turn, with the others
// at their defaults; query variables from s.Values or All. Each query variable also yields
// the label-values lookup behind its options. Expressions repeated across selections are
// returned once.
func PromQLTargets(s PromQLSamples) ([]PromQLTarget, error) {
	if s.RateInterval <= 0 || s.Range <= 0 {
		return nil, fmt.Errorf("dashboards: PromQLTargets needs a rate interval and a range, got %v and %v", s.RateInterval, s.Range)
	}
	names, err := fs.Glob(files, PrometheusDir+"/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []PromQLTarget
	seen := map[string]bool{}
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d promDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", name, err)
		}
		sels, err := promSelections(d, s)
		if err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", name, err)
		}
		file := strings.TrimPrefix(name, PrometheusDir+"/")
		add := func(t PromQLTarget) error {
			if strings.Contains(t.Expr, "$") {
				return fmt.Errorf("dashboards: %s/%s: %q keeps a variable after expansion", file, t.Panel, t.Expr)
			}
			if !seen[t.Expr] {
				seen[t.Expr] = true
				out = append(out, t)
			}
			return nil
		}
		for _, sel := range sels {
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				q, _ := v.Query.(map[string]any)
				text, _ := q["query"].(string)
				m := labelValues.FindStringSubmatch(text)
				if m == nil {
					return nil, fmt.Errorf("dashboards: %s: variable %s: %q is not label_values(selector, label)", name, v.Name, text)
				}
				t := PromQLTarget{Dashboard: file, Panel: "variable " + v.Name, RefID: v.Name, Selection: sel.name,
					Expr: sel.expand(strings.TrimSpace(m[1])), LabelValues: m[2]}
				if err := add(t); err != nil {
					return nil, err
				}
			}
			for _, p := range d.Panels {
				for _, t := range p.Targets {
					if err := add(PromQLTarget{Dashboard: file, Panel: p.Title, RefID: t.RefID, Selection: sel.name, Expr: sel.expand(t.Expr), Instant: t.Instant}); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return out, nil
}

// promSelection is one assignment of a dashboard's variables.
type promSelection struct {
	name  string
	value map[string]string // as interpolated into PromQL
	text  map[string]string // ${name:text}
}

func (sel promSelection) expand(expr string) string {
	return promVarRef.ReplaceAllStringFunc(expr, func(m string) string {
		sm := promVarRef.FindStringSubmatch(m)
		name := sm[1] + sm[3] + sm[4]
		if sm[2] == "text" {
			if t, ok := sel.text[name]; ok {
				return t
			}
		}
		if v, ok := sel.value[name]; ok {
			return v
		}
		return m
	})
}

func promSelections(d promDashboard, s PromQLSamples) ([]promSelection, error) {
	base := promSelection{name: "as opened", value: map[string]string{
		"__rate_interval": model.Duration(s.RateInterval).String(),
		"__interval":      model.Duration(s.RateInterval).String(),
		"__range":         model.Duration(s.Range).String(),
	}, text: map[string]string{}}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
		case "custom":
			val, _ := v.Current.Value.(string)
			text, _ := v.Current.Text.(string)
			if val == "" {
				return nil, fmt.Errorf("custom variable %s has no current value", v.Name)
			}
			if given, ok := s.Values[v.Name]; ok {
				val, text = given, given
			}
			base.value[v.Name], base.text[v.Name] = val, text
		case "query":
			if given, ok := s.Values[v.Name]; ok {
				// Grafana writes a multi-value variable's values as an escaped regex.
				if v.IncludeAll {
					given = strings.ReplaceAll(regexp.QuoteMeta(given), `\`, `\\`)
				}
				base.value[v.Name], base.text[v.Name] = given, given
			} else if v.IncludeAll {
				base.value[v.Name], base.text[v.Name] = v.AllValue, "All"
			} else {
				return nil, fmt.Errorf("query variable %s has no All option: give it a value in PromQLSamples.Values", v.Name)
			}
		default:
			return nil, fmt.Errorf("variable %s of type %s", v.Name, v.Type)
		}
	}
	out := []promSelection{base}
	for _, v := range d.Templating.List {
		if _, fixed := s.Values[v.Name]; v.Type != "custom" || fixed {
			continue
		}
		for _, o := range v.Options {
			if o.Value == base.value[v.Name] {
				continue
			}
			sel := promSelection{name: v.Name + "=" + o.Text, value: map[string]string{}, text: map[string]string{}}
			for k, x := range base.value {
				sel.value[k] = x
			}
			for k, x := range base.text {
				sel.text[k] = x
			}
			sel.value[v.Name], sel.text[v.Name] = o.Value, o.Text
			out = append(out, sel)
		}
	}
	return out, nil
}
