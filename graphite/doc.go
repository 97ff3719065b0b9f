// Package graphite speaks the Graphite render API over rumd's sketches, so that Grafana's
// built-in Graphite data source can chart rumd with no plugin. It sits beside the JSON query
// API at the end of the pipeline: every point it answers is read from the sketches of one
// step merged by the query engine, so the p95 of a day is the p95 of every value of that day,
// never an average of smaller p95s.
//
// # Path scheme
//
// Every series is a path of dot-separated nodes:
//
//	rumd.<view>.<value of each dimension of the view>.<metric>.<statistic>
//
//	rumd.total.ttfb.p75                          every page view, p75 of TTFB
//	rumd.country.DE.lcp.p95                      one country
//	rumd.page_country.~questions~:id.DE.inp.p75  one page group in one country
//	rumd.variant_probe.cdn-b.cdn-a.probe_ttfb.count
//
// The nodes are:
//
//   - view: a materialised view, "total" for the view of no dimension, otherwise its
//     dimensions in canonical order joined by "_" (page_country, variant_probe). Only the
//     configured views exist.
//   - one node per dimension of the view, in the same order, holding its value made
//     path-safe: "/" is written "~", the bytes A-Z a-z 0-9 "_" "-" ":" are kept, every other
//     byte is written %XX (upper-case hex), and the empty value is a lone "%". The mapping is
//     reversible: "/questions/:id" is "~questions~:id" and "/a.b" is "~a%2Eb".
//   - metric: one the view carries (page metrics, or probe_* in views holding probe).
//   - statistic: count (values merged in the step) or a percentile pNN, "_" standing for a
//     decimal point: p50, p75, p90, p95, p99, p99_9, p100 (max), p0 (min). Browsing lists
//     count, p50, p75, p90, p95 and p99; any other pNN is answered when asked for.
//
// Any node may hold the wildcards *, ?, {a,b} and [ab] or [a-z]; a dimension node with a
// wildcard yields one series per value seen. mergeSeries(path) instead merges the sketches
// of every series the path matches into one series per metric and statistic: the
// percentile of the whole selection, which is what a Grafana "All" needs. Tagged series are
// offered too:
//
//	seriesByTag('name=ttfb', 'stat=p95', 'country=~D.*', 'device!=tablet')
//
// where name is the metric, stat the statistic, and every other tag a dimension with its raw
// (unencoded) value. Dimensions named in the expressions become separate series; the rest
// are merged, from the smallest view that holds the named ones.
//
// # Comparing
//
// A Graphite data source carries only numbers and series names, so the verdict of
// /api/v1/compare travels in a name:
//
//	comparePercentiles(seriesListA, seriesListB[, details])
//	comparePercentiles(mergeSeries(rumd.variant.cdn-a.lcp.p75), mergeSeries(rumd.variant.cdn-b.lcp.p75))
//	comparePercentiles(timeShift(rumd.total.lcp.p75, '7d'), rumd.total.lcp.p75, true)
//
// merges every sketch of side a over the whole requested range (all its series and steps,
// read as maxDataPoints=1 reads them, so a timeShift'ed side reads its shifted range) and
// likewise side b, then compares that percentile with query.CompareQuantile. It answers one
// point at the start of the range, its step the whole range: a series named by the verdict,
// e.g. "b is slower at p75 by 150 ms (95% CI 120 to 180 ms)" or "no detectable difference
// at p75 (95% CI -12 to 9 ms)", whose value is the delta b − a; with details true, also
// "<metric> <stat> a", "… b", "… ci_low" and "… ci_high" (the 95% interval of the delta,
// null when a side has too few page views). Every series is tagged metric, stat and compare
// (delta, a, b, ci_low, ci_high). Each side must read one percentile of one metric from one
// view; counts and series computed from numbers (sumSeries, constantLine) are refused.
// Every series is tagged a_from, a_to, b_from and b_to too: the windows read, in unix
// seconds on whole stored minutes (or hours or days). Two sides that select the same series
// (a timeShift'ed side against the unshifted one) never read one stored minute on both
// sides: when their windows meet inside one, as timeShift(x, '3min') over the last three
// minutes does, that minute holds page views of both and is read by neither, and the tag
// cut says so; windows that overlap as asked (a range longer than the shift), and the same
// series over the same range on both sides, are refused with bad_selection.
//
// # Formats, graphs and alerting
//
// /render answers png (the default, drawn with gonum/plot), svg, json, raw and csv, with
// Graphite's graph parameters, and the functions alerting tools and status pages use
// (keepLastValue, threshold, movingAverage, ...); a moving window over a percentile merges
// the window's sketches. docs/graphite.md describes them.
package graphite
