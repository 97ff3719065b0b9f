package define

import "sort"

// PrometheusDir is the directory of the Prometheus set, beside the Graphite set.
const PrometheusDir = "prometheus/"

// Build renders every dashboard of both sets, keyed by path under dashboards/: the
// Graphite set at the top, the Prometheus set under prometheus/.
func Build() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, d := range All() {
		g, err := Render(d, Graphite)
		if err != nil {
			return nil, err
		}
		p, err := Render(d, Prometheus)
		if err != nil {
			return nil, err
		}
		out[d.File], out[PrometheusDir+d.File] = g, p
	}
	return out, nil
}

// PrometheusViews lists the view label values the Prometheus set reads, sorted: rumd must
// expose these views (its prometheus.views setting) for every panel to have data.
func PrometheusViews() []string {
	seen := map[string]bool{}
	for _, d := range All() {
		for _, v := range d.Vars {
			if v.Kind == Values {
				seen[ViewLabel(v.View)] = true
			}
		}
		for _, p := range d.Panels {
			for _, q := range p.Queries {
				seen[ViewLabel(q.View)] = true
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
