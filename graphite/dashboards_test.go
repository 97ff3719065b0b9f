package graphite

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"

	"rumd/dashboards"
	"rumd/query"
)

// grafanaDashboard is what the replay reads of a shipped dashboard.
type grafanaDashboard struct {
	Title string `json:"title"`
	Time  struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []grafanaVar `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title         string         `json:"title"`
		Type          string         `json:"type"`
		Datasource    map[string]any `json:"datasource"`
		MaxDataPoints int            `json:"maxDataPoints"`
		Targets       []struct {
			RefID  string `json:"refId"`
			Target string `json:"target"`
		} `json:"targets"`
	} `json:"panels"`
}

type grafanaVar struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Query      any            `json:"query"`
	Datasource map[string]any `json:"datasource"`
	Regex      string         `json:"regex"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Multi      bool           `json:"multi"`
	Sort       int            `json:"sort"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
	Options []struct {
		Value string `json:"value"`
	} `json:"options"`
}

// defaultPanelPoints is the maxDataPoints Grafana sends for a panel about 1000 px wide.
const defaultPanelPoints = 1000

var templateRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// interpolate expands template variables as Grafana does for Graphite: a single value as is,
// several as {a,b}.
func interpolate(s string, vals map[string][]string) string {
	return templateRef.ReplaceAllStringFunc(s, func(m string) string {
		sm := templateRef.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vals[name]
		if !ok {
			return m
		}
		if len(v) == 1 {
			return v[0]
		}
		return "{" + strings.Join(v, ",") + "}"
	})
}

// TestShippedDashboards loads every shipped dashboard, fills its template variables from
// /metrics/find, and replays every Graphite target as Grafana posts it against a live rumd
// seeded with known values: each answer must be well-formed and non-empty, and each point
// must agree with the exact statistic of the seeded values of its step.
func TestShippedDashboards(t *testing.T) {
	e := standardEnv(t)
	names, err := fs.Glob(dashboards.FS(), "*.json")
	if err != nil || len(names) < 6 {
		t.Fatalf("dashboards: %v %v", names, err)
	}
	targets, pairs := 0, 0
	for _, name := range names {
		b, err := fs.ReadFile(dashboards.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !usesRumd(d) {
			continue // the Prometheus health dashboard: its names are checked in package dashboards
		}
		t.Run(name, func(t *testing.T) {
			from, err := query.ParseTime(d.Time.From, e.now)
			if err != nil {
				t.Fatalf("time.from %q: %v", d.Time.From, err)
			}
			until := e.now.Unix()
			sels := e.selections(t, d, from, until)
			// Variants A and B open on different variants, so the first verdict a user
			// sees compares two of them.
			if a, b := sels[0].vals["variant_a"], sels[0].vals["variant_b"]; a != nil || b != nil {
				pairs++
				if len(a) != 1 || len(b) != 1 || a[0] == b[0] {
					t.Errorf("as opened, variant_a is %v and variant_b %v", a, b)
				}
			}
			for _, sel := range sels {
				for _, p := range d.Panels {
					if p.Type == "row" || dataSourceUID(d, p.Datasource) != "rumd" {
						continue
					}
					mdp := p.MaxDataPoints
					if mdp == 0 {
						mdp = defaultPanelPoints
					}
					nonNull := 0
					for _, tg := range p.Targets {
						target := interpolate(tg.Target, sel.vals)
						if strings.Contains(target, "$") {
							t.Fatalf("%s: %q keeps a variable after interpolation", p.Title, target)
						}
						targets++
						what := d.Title + "/" + p.Title + " [" + sel.name + "] " + target
						nonNull += e.replay(t, what, tg.RefID, target, from, until, mdp)
					}
					if nonNull == 0 {
						t.Errorf("%s/%s [%s]: no point with data in any target", d.Title, p.Title, sel.name)
					}
				}
			}
		})
	}
	if targets < 100 {
		t.Errorf("only %d targets replayed", targets)
	}
	if pairs < 2 {
		t.Errorf("variant_a and variant_b checked on %d dashboards, want before-after and probes", pairs)
	}
}

func usesRumd(d grafanaDashboard) bool {
	for _, p := range d.Panels {
		if dataSourceUID(d, p.Datasource) == "rumd" {
			return true
		}
	}
	return false
}

// dataSourceUID resolves a panel's data source as Grafana opens the dashboard: a reference
// to a data-source variable is that variable's current value.
func dataSourceUID(d grafanaDashboard, ds map[string]any) string {
	uid, _ := ds["uid"].(string)
	if m := templateRef.FindStringSubmatch(uid); m != nil && m[0] == uid {
		for _, v := range d.Templating.List {
			if v.Type == "datasource" && v.Name == m[1]+m[2]+m[3] {
				cur, _ := v.Current.Value.(string)
				return cur
			}
		}
	}
	return uid
}

// variableRegex applies a query variable's regex as Grafana does: variables in it are
// interpolated (the :regex format escapes their values), values it does not match are
// dropped, and a capture group, when there is one, is the value kept. Grafana runs it as a
// JavaScript regular expression, so it is run here by an ECMAScript engine.
func variableRegex(t *testing.T, v grafanaVar, found []string, vals map[string][]string) []string {
	t.Helper()
	if v.Regex == "" {
		return found
	}
	src := templateRef.ReplaceAllStringFunc(v.Regex, func(m string) string {
		sm := templateRef.FindStringSubmatch(m)
		val, ok := vals[sm[1]+sm[2]+sm[3]]
		if !ok || len(val) != 1 {
			t.Fatalf("variable %s: regex %s refers to %s, which has no single value yet", v.Name, v.Regex, m)
		}
		return regexp2.Escape(val[0])
	})
	if len(src) < 2 || src[0] != '/' || src[len(src)-1] != '/' {
		t.Fatalf("variable %s: regex %q is not /…/", v.Name, v.Regex)
	}
	re, err := regexp2.Compile(src[1:len(src)-1], regexp2.ECMAScript)
	if err != nil {
		t.Fatalf("variable %s: regex %s: %v", v.Name, v.Regex, err)
	}
	var out []string
	for _, f := range found {
		m, err := re.FindStringMatch(f)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			continue
		}
		if g := m.Groups(); len(g) > 1 {
			out = append(out, g[1].String())
		} else {
			out = append(out, f)
		}
	}
	return out
}

// selection is one assignment of a dashboard's variables.
type selection struct {
	name string
	vals map[string][]string
}

// selections lists the assignments replayed: the dashboard as it opens (All where offered),
// every query variable at its first value, at its first two values, and each option of each
// custom variable with the rest as they open.
func (e *env) selections(t *testing.T, d grafanaDashboard, from, until int64) []selection {
	t.Helper()
	found := map[string][]string{}
	base := map[string][]string{}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			continue // resolved by dataSourceUID
		case "custom":
			cur, _ := v.Current.Value.(string)
			if cur == "" {
				t.Fatalf("custom variable %s has no current value", v.Name)
			}
			base[v.Name] = []string{cur}
		case "query":
			q, ok := v.Query.(string)
			if !ok {
				t.Fatalf("variable %s: query %v is not a Graphite path", v.Name, v.Query)
			}
			var nodes []struct {
				Text string `json:"text"`
			}
			form := url.Values{"query": {q}}
			path := "/metrics/find?from=" + strconv.FormatInt(from, 10) + "&until=" + strconv.FormatInt(until, 10)
			if code := e.post(t, path, form, &nodes); code != 200 || len(nodes) == 0 {
				t.Fatalf("variable %s: find %s answered %d with %d nodes", v.Name, q, code, len(nodes))
			}
			for _, n := range nodes {
				found[v.Name] = append(found[v.Name], n.Text)
			}
			if found[v.Name] = variableRegex(t, v, found[v.Name], base); len(found[v.Name]) == 0 {
				t.Fatalf("variable %s: regex %s leaves none of %d values", v.Name, v.Regex, len(nodes))
			}
			switch v.Sort { // Grafana's alphabetical orders; the first value is the one it opens with
			case 1:
				sort.Strings(found[v.Name])
			case 2:
				sort.Sort(sort.Reverse(sort.StringSlice(found[v.Name])))
			}
			if v.IncludeAll {
				if v.AllValue != "*" {
					t.Errorf("variable %s: allValue %q; rumd's paths want *", v.Name, v.AllValue)
				}
				base[v.Name] = []string{"*"}
			} else {
				base[v.Name] = found[v.Name][:1]
			}
		default:
			t.Fatalf("variable %s of type %s", v.Name, v.Type)
		}
	}
	with := func(name string, mod func(m map[string][]string)) selection {
		m := map[string][]string{}
		for k, v := range base {
			m[k] = v
		}
		mod(m)
		return selection{name, m}
	}
	out := []selection{with("as opened", func(map[string][]string) {})}
	out = append(out, with("first values", func(m map[string][]string) {
		for k, v := range found {
			m[k] = v[:1]
		}
	}))
	out = append(out, with("two values", func(m map[string][]string) {
		for k, v := range found {
			m[k] = v[:min(2, len(v))]
		}
	}))
	for _, v := range d.Templating.List {
		if v.Type != "custom" {
			continue
		}
		for _, o := range v.Options {
			if o.Value != base[v.Name][0] {
				out = append(out, with(v.Name+"="+o.Value, func(m map[string][]string) { m[v.Name] = []string{o.Value} }))
			}
		}
	}
	return out
}

// replay posts one target as Grafana's backend does, checks the answer field by field, and
// returns the number of points with data.
func (e *env) replay(t *testing.T, what, refID, target string, from, until int64, mdp int) int {
	t.Helper()
	form := grafanaForm(refID, target, strconv.FormatInt(from, 10), strconv.FormatInt(until, 10), mdp)
	var got []renderSeries
	if code := e.post(t, "/render", form, &got); code != 200 {
		t.Errorf("%s: status %d", what, code)
		return 0
	}
	if len(got) == 0 {
		t.Errorf("%s: no series", what)
		return 0
	}
	nonNull := 0
	for _, s := range got {
		words := strings.Fields(s.Target)
		if len(words) < 2 || words[len(words)-1] != refID {
			t.Errorf("%s: target %q does not end in the refId %s", what, s.Target, refID)
		}
		if len(s.Datapoints) == 0 {
			t.Errorf("%s: %q has no points", what, s.Target)
		}
		if !sort.SliceIsSorted(s.Datapoints, func(i, j int) bool { return *s.Datapoints[i][1] < *s.Datapoints[j][1] }) {
			t.Errorf("%s: %q points out of order", what, s.Target)
		}
		for _, p := range s.Datapoints {
			if p[0] != nil && *p[0] != 0 {
				nonNull++
			}
		}
	}
	e.checkSeries(t, what, got)
	e.checkCompare(t, what, refID, target, from, until, got)
	return nonNull
}
