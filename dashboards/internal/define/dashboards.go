package define

import "strings"

// vitalsOrder is the order metrics are shown in; load has no web.dev thresholds.
var vitalsOrder = []string{"lcp", "inp", "cls", "fcp", "ttfb", "load"}

var pct3 = []string{"p50", "p75", "p95"}

func upper(m string) string {
	if m == "load" {
		return "Load"
	}
	return strings.ToUpper(m)
}

func metricVar(extra ...string) Var {
	return Var{Name: "metric", Label: "Metric", Kind: Custom, Options: append([]string{"lcp", "inp", "cls", "fcp", "ttfb", "load"}, extra...)}
}

func statVar(label string) Var {
	return Var{Name: "stat", Label: label, Kind: Custom, Options: []string{"p75", "p50", "p90", "p95", "p99"}}
}

func countryVar(label string) Var {
	return Var{Name: "country", Label: label, Kind: Values, Dim: "country", View: []string{"country"}, Metric: "ttfb", All: true}
}

// All lists every dashboard of both sets, in file order.
func All() []Dashboard {
	return []Dashboard{overview(), world(), pages(), devices(), beforeAfter(), probes()}
}

func overview() Dashboard {
	pc := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"page", "country"}, Filter: map[string]string{"page": "page", "country": "country"}}
	}
	d := Dashboard{
		File: "overview.json", UID: "rumd-overview", Title: "rumd / Overview", From: "now-6h",
		Description: "Percentiles of the web vitals and navigation timings of every sampled page view, for the selected page groups and countries. Each point is read from merged sketches (Graphite) or summed native histograms (Prometheus), never from averaged percentiles. " + thresholdsNote,
		Vars: []Var{
			{Name: "page", Label: "Page group", Kind: Values, Dim: "page", View: []string{"page"}, Metric: "ttfb", All: true},
			countryVar("Country"),
		},
	}
	d.Panels = append(d.Panels, Panel{Kind: Row, Title: "p75 over the whole range", Y: 0, W: 24, H: 1})
	for i, m := range vitalsOrder {
		q := pc(m, "p75")
		q.Name = upper(m) + " p75"
		d.Panels = append(d.Panels, Panel{Kind: Stat, Title: upper(m) + " p75", Metric: m, WholeRange: true,
			Description: "p75 of " + upper(m) + " over the whole time range, from every value of the range.",
			X:           4 * i, Y: 1, W: 4, H: 4, Queries: []Query{q}})
	}
	d.Panels = append(d.Panels, Panel{Kind: Row, Title: "p50, p75 and p95 over time", Y: 5, W: 24, H: 1})
	for i, m := range vitalsOrder {
		d.Panels = append(d.Panels, Panel{Kind: TimeSeries, Title: upper(m) + " p50 / p75 / p95", Metric: m,
			Description: upper(m) + " percentiles per step; the dashed lines are the good / poor thresholds where web.dev sets them.",
			X:           12 * (i % 2), Y: 6 + 8*(i/2), W: 12, H: 8, Queries: []Query{pc(m, pct3...)}})
	}
	d.Panels = append(d.Panels, Panel{Kind: Row, Title: "Volume", Y: 30, W: 24, H: 1})
	views := pc("ttfb", "count")
	views.Name = "page views"
	d.Panels = append(d.Panels, Panel{Kind: TimeSeries, Title: "Page views {per}", Metric: "count", Bars: true,
		Description: "Page views with a TTFB (every page view that reported navigation timing).",
		X:           0, Y: 31, W: 12, H: 8, Queries: []Query{views}})
	var perMetric []Query
	for _, m := range []string{"ttfb", "fcp", "lcp", "inp", "cls", "load"} {
		q := pc(m, "count")
		q.Name = m
		perMetric = append(perMetric, q)
	}
	d.Panels = append(d.Panels, Panel{Kind: TimeSeries, Title: "Values per metric {per}", Metric: "count",
		Description: "How many values each percentile above is read from: INP and LCP are missing on views that ended early.",
		X:           12, Y: 31, W: 12, H: 8, Queries: perMetric})
	return d
}

func world() Dashboard {
	c := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"country"}, By: []string{"country"}}
	}
	top := c("$metric", "$stat")
	top.Top = 5
	sorted := c("$metric", "$stat")
	sorted.Sort = true
	views := c("ttfb", "count")
	views.Sort = true
	return Dashboard{
		File: "world.json", UID: "rumd-world", Title: "rumd / World", From: "now-24h",
		Description: "Percentiles by country (ISO 3166-1 alpha-2; XX is unknown). " + thresholdsNote,
		Vars:        []Var{metricVar(), statVar("Statistic")},
		Panels: []Panel{
			{Kind: GeoMap, Title: "LCP p75 by country", Metric: "lcp", WholeRange: true, X: 0, Y: 0, W: 24, H: 12,
				Description: "p75 of LCP per country over the whole range.", Queries: []Query{c("lcp", "p75")}},
			{Kind: BarGauge, Title: "$metric $stat by country", Metric: "$metric", WholeRange: true, X: 0, Y: 12, W: 12, H: 12,
				Description: "The chosen percentile per country over the whole range, largest first.", Queries: []Query{sorted}},
			{Kind: BarGauge, Title: "Page views by country", Metric: "count", WholeRange: true, X: 12, Y: 12, W: 12, H: 12,
				Description: "Page views with a TTFB per country over the whole range.", Queries: []Query{views}},
			{Kind: TimeSeries, Title: "$metric $stat: the 5 countries with the highest peak", Metric: "$metric", X: 0, Y: 24, W: 24, H: 9,
				Queries: []Query{top}},
		},
	}
}

func pages() Dashboard {
	p := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"page", "country"}, Filter: map[string]string{"country": "country"}, By: []string{"page"}}
	}
	slow := p("$metric", "$stat")
	slow.Top = 15
	busy := p("ttfb", "count")
	busy.Top = 15
	peak := p("$metric", "$stat")
	peak.Top = 5
	d := Dashboard{
		File: "pages.json", UID: "rumd-pages", Title: "rumd / Pages", From: "now-24h",
		Description: "The slowest and busiest page groups (URLs grouped by the configured page rules), the selected countries merged per page group. " + thresholdsNote,
		Vars:        []Var{metricVar("dom_interactive", "dcl"), statVar("Statistic"), countryVar("Country")},
		Panels: []Panel{
			{Kind: BarGauge, Title: "Slowest page groups: $metric $stat", Metric: "$metric", WholeRange: true, X: 0, Y: 0, W: 12, H: 14, Queries: []Query{slow}},
			{Kind: BarGauge, Title: "Busiest page groups", Metric: "count", WholeRange: true, X: 12, Y: 0, W: 12, H: 14, Queries: []Query{busy}},
			{Kind: TimeSeries, Title: "$metric $stat of the 5 page groups with the highest peak", Metric: "$metric", X: 0, Y: 14, W: 24, H: 9, Queries: []Query{peak}},
		},
	}
	for i, m := range []string{"lcp", "inp", "cls"} {
		q := p(m, "p75")
		q.Sort = true
		d.Panels = append(d.Panels, Panel{Kind: BarGauge, Title: upper(m) + " p75 by page group", Metric: m, WholeRange: true,
			X: 8 * i, Y: 23, W: 8, H: 12, Queries: []Query{q}})
	}
	return d
}

func devices() Dashboard {
	dev := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"country", "device"}, Filter: map[string]string{"country": "country"}, By: []string{"device"}}
	}
	nav := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"nav"}, By: []string{"nav"}}
	}
	all := Query{Metric: "ttfb", Stats: []string{"count"}, View: []string{"device"}, Name: "page views"}
	d := Dashboard{
		File: "devices.json", UID: "rumd-devices", Title: "rumd / Devices and navigation types", From: "now-24h",
		Description: "Percentiles by device class (mobile, tablet, desktop) and by navigation type (navigate, reload, back_forward, bfcache, prerender). " + thresholdsNote,
		Vars:        []Var{metricVar(), statVar("Statistic"), countryVar("Country (devices)")},
		Panels: []Panel{
			{Kind: TimeSeries, Title: "$metric $stat by device", Metric: "$metric", X: 0, Y: 0, W: 16, H: 9, Queries: []Query{dev("$metric", "$stat")}},
			{Kind: PieChart, Title: "Page views by device", Metric: "count", WholeRange: true, X: 16, Y: 0, W: 8, H: 9, Queries: []Query{dev("ttfb", "count")}},
			{Kind: TimeSeries, Title: "$metric $stat by navigation type (all countries)", Metric: "$metric", X: 0, Y: 9, W: 16, H: 9, Queries: []Query{nav("$metric", "$stat")}},
			{Kind: PieChart, Title: "Page views by navigation type (all countries)", Metric: "count", WholeRange: true, X: 16, Y: 9, W: 8, H: 9, Queries: []Query{nav("ttfb", "count")}},
		},
	}
	pos := [][3]int{{0, 18, 8}, {8, 18, 8}, {16, 18, 8}, {0, 26, 12}, {12, 26, 12}}
	for i, m := range []string{"lcp", "inp", "cls", "fcp", "ttfb"} {
		d.Panels = append(d.Panels, Panel{Kind: BarGauge, Title: upper(m) + " p75 by device", Metric: m, WholeRange: true,
			X: pos[i][0], Y: pos[i][1], W: pos[i][2], H: 8, Queries: []Query{dev(m, "p75")}})
	}
	d.Panels = append(d.Panels, Panel{Kind: Stat, Title: "Page views, all devices", Metric: "count", WholeRange: true, X: 0, Y: 34, W: 24, H: 4, Queries: []Query{all}})
	return d
}

func beforeAfter() Dashboard {
	now := Query{Metric: "$metric", Stats: []string{"$stat"}, View: []string{"country"}, Filter: map[string]string{"country": "country"}, Name: "now"}
	then := now
	then.Shift, then.Name = "shift", "$shift earlier"
	variant := func(m, stat, v string) Query {
		return Query{Metric: m, Stats: []string{stat}, View: []string{"country", "variant"}, Filter: map[string]string{"country": "country", "variant": v}, Name: "$" + v}
	}
	va, vb := variant("$metric", "$stat", "variant_a"), variant("$metric", "$stat", "variant_b")
	variantVar := func(name, label, exclude string) Var {
		return Var{Name: name, Label: label, Kind: Values, Dim: "variant", View: []string{"variant"}, Metric: "ttfb", Exclude: exclude}
	}
	return Dashboard{
		File: "before-after.json", UID: "rumd-before-after", Title: "rumd / Before and after", From: "now-24h",
		Description: "A metric against itself shifted back by a chosen interval (did the release make it faster?), and one variant against another (an experiment label sent in the beacon's variant field), each with a verdict: the difference at the chosen percentile over the whole range (with its 95% confidence interval on the Graphite data source). " + thresholdsNote,
		Vars: []Var{
			metricVar(), statVar("Statistic"),
			{Name: "shift", Label: "Compare with", Kind: Custom, Options: []string{"1d", "7d", "28d"}, Default: "7d"},
			countryVar("Country"),
			variantVar("variant_a", "Variant A", ""),
			variantVar("variant_b", "Variant B", "variant_a"),
		},
		Panels: []Panel{
			{Kind: Row, Title: "Now against $shift earlier", Y: 0, W: 24, H: 1},
			{Kind: TimeSeries, Title: "$metric $stat: now and $shift earlier", Metric: "$metric", DashedB: true, X: 0, Y: 1, W: 16, H: 9, Queries: []Query{now, then}},
			{Kind: Stat, Title: "$metric $stat over the range", Metric: "$metric", WholeRange: true, X: 16, Y: 1, W: 8, H: 9, Queries: []Query{now, then}},
			{Kind: Table, Title: "Verdict: $metric $stat, a = $shift earlier, b = now", Metric: "$metric", Compare: true, WholeRange: true, X: 0, Y: 10, W: 24, H: 7, Queries: []Query{then, now}},
			{Kind: Row, Title: "Variant $variant_a against $variant_b", Y: 17, W: 24, H: 1},
			{Kind: TimeSeries, Title: "$metric $stat: $variant_a and $variant_b", Metric: "$metric", X: 0, Y: 18, W: 16, H: 9, Queries: []Query{va, vb}},
			{Kind: Stat, Title: "$metric $stat over the range by variant", Metric: "$metric", WholeRange: true, X: 16, Y: 18, W: 8, H: 9, Queries: []Query{va, vb}},
			{Kind: Table, Title: "Verdict: $metric $stat, a = $variant_a, b = $variant_b", Metric: "$metric", Compare: true, WholeRange: true, X: 0, Y: 27, W: 24, H: 7, Queries: []Query{va, vb}},
			{Kind: TimeSeries, Title: "Page views {per}: $variant_a and $variant_b", Metric: "count", X: 0, Y: 34, W: 24, H: 7,
				Queries: []Query{variant("ttfb", "count", "variant_a"), variant("ttfb", "count", "variant_b")}},
		},
	}
}

func probes() Dashboard {
	every := func(m string) Query {
		return Query{Metric: m, Stats: pct3, View: []string{"probe"}, By: []string{"probe"}}
	}
	byVariant := func(m string, stats ...string) Query {
		return Query{Metric: m, Stats: stats, View: []string{"variant", "probe"}, Filter: map[string]string{"probe": "probe"}, By: []string{"variant"}}
	}
	side := func(m, v string) Query {
		return Query{Metric: m, Stats: []string{"$stat"}, View: []string{"variant", "probe"}, Filter: map[string]string{"probe": "probe", "variant": v}, Name: "$" + v}
	}
	variantVar := func(name, label, exclude string) Var {
		return Var{Name: name, Label: label, Kind: Values, Dim: "variant", View: []string{"variant", "probe"}, Metric: "probe_total", Exclude: exclude}
	}
	return Dashboard{
		File: "probes.json", UID: "rumd-probes", Title: "rumd / Probes and experiments", From: "now-24h",
		Description: "For comparing CDNs and DNS providers with the test page (/test) and the hidden iframe (/test/embed): the probe fetches' probe_ttfb and probe_total (ms) per probe name, the chosen probe per experiment variant, the page views behind each variant, and verdicts comparing variant A with variant B at the chosen percentile over the whole range (with a 95% confidence interval on the Graphite data source). Probe timings have no web.dev thresholds, so the panels carry none.",
		Vars: []Var{
			{Name: "probe", Label: "Probe", Kind: Values, Dim: "probe", View: []string{"probe"}, Metric: "probe_total"},
			variantVar("variant_a", "Variant A", ""),
			variantVar("variant_b", "Variant B", "variant_a"),
			statVar("Verdict at"),
		},
		Panels: []Panel{
			{Kind: Row, Title: "Every probe", Y: 0, W: 24, H: 1},
			{Kind: TimeSeries, Title: "probe_ttfb p50 / p75 / p95 per probe", Metric: "probe_ttfb", X: 0, Y: 1, W: 12, H: 9, Queries: []Query{every("probe_ttfb")}},
			{Kind: TimeSeries, Title: "probe_total p50 / p75 / p95 per probe", Metric: "probe_total", X: 12, Y: 1, W: 12, H: 9, Queries: []Query{every("probe_total")}},
			{Kind: Row, Title: "Probe $probe by variant", Y: 10, W: 24, H: 1},
			{Kind: TimeSeries, Title: "$probe probe_ttfb p50 / p75 / p95 per variant", Metric: "probe_ttfb", X: 0, Y: 11, W: 12, H: 9, Queries: []Query{byVariant("probe_ttfb", pct3...)}},
			{Kind: TimeSeries, Title: "$probe probe_total p50 / p75 / p95 per variant", Metric: "probe_total", X: 12, Y: 11, W: 12, H: 9, Queries: []Query{byVariant("probe_total", pct3...)}},
			{Kind: TimeSeries, Title: "Page views measuring $probe per variant, {per}", Metric: "count", X: 0, Y: 20, W: 24, H: 7, Queries: []Query{byVariant("probe_total", "count")}},
			{Kind: Row, Title: "Verdict: $variant_a against $variant_b on $probe", Y: 27, W: 24, H: 1},
			{Kind: Table, Title: "Verdict: probe_ttfb $stat of $probe, a = $variant_a, b = $variant_b", Metric: "probe_ttfb", Compare: true, WholeRange: true, X: 0, Y: 28, W: 12, H: 8,
				Queries: []Query{side("probe_ttfb", "variant_a"), side("probe_ttfb", "variant_b")}},
			{Kind: Table, Title: "Verdict: probe_total $stat of $probe, a = $variant_a, b = $variant_b", Metric: "probe_total", Compare: true, WholeRange: true, X: 12, Y: 28, W: 12, H: 8,
				Queries: []Query{side("probe_total", "variant_a"), side("probe_total", "variant_b")}},
		},
	}
}
