package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// weighted is a value sent w times.
type weighted struct {
	v float64
	w uint32
}

// exactQuantiles returns the number of values and, for each q, the value at nearest rank
// sketch.Rank(q, n) (1-based): the definition rumd's sketches read quantiles with. xs is
// sorted in place.
func exactQuantiles(xs []weighted, qs []float64) (int64, []float64) {
	sort.Slice(xs, func(i, j int) bool { return xs[i].v < xs[j].v })
	var n int64
	for _, x := range xs {
		n += int64(x.w)
	}
	out := make([]float64, len(qs))
	if n == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return 0, out
	}
	for i, q := range qs {
		k := int64(sketch.Rank(q, float64(n)))
		var cum int64
		for _, x := range xs {
			cum += int64(x.w)
			if cum >= k {
				out[i] = x.v
				break
			}
		}
	}
	return n, out
}

// relError is |got − want| / |want|; 0 when both are 0 and 1 when only want is.
func relError(got, want float64) float64 {
	if want == 0 {
		if got == 0 {
			return 0
		}
		return 1
	}
	if math.IsNaN(got) {
		return math.Inf(1)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// Comparison is one quantile of one group as the load tool computed it and as rumd answered.
type Comparison struct {
	Metric   string  `json:"metric"`
	Group    string  `json:"group"` // e.g. "total", "country=DE", "country=DE,page=/cart"
	Q        float64 `json:"q"`
	Exact    float64 `json:"exact"`
	Got      float64 `json:"got"`
	RelError float64 `json:"rel_error"`
	Count    int64   `json:"count"`
}

// Accuracy is the outcome of the accuracy check.
type Accuracy struct {
	Queries  int          `json:"queries"`
	Compared int          `json:"compared"` // quantiles compared
	Groups   int          `json:"groups"`   // (metric, group) pairs compared
	Worst    *Comparison  `json:"worst,omitempty"`
	PerQ     []Comparison `json:"worst_per_quantile"`
	// PerMetric is the worst comparison of each metric, in the series model's order.
	PerMetric []Comparison `json:"worst_per_metric"`
	// CountMismatches lists groups whose count in rumd differs from what was accepted.
	CountMismatches []string `json:"count_mismatches,omitempty"`
	// Missing lists groups rumd did not return at all.
	Missing []string `json:"missing,omitempty"`
	// QueryErrors lists the queries rumd refused or failed.
	QueryErrors []string `json:"query_errors,omitempty"`
	// VisibleAfter is how long after the last send rumd's total count matched.
	VisibleAfter float64 `json:"visible_after_s"`
	// GeoIPMismatch, when set, is a country whose count in rumd differs from what the tool
	// sent from its range: rumd runs without the tool's GeoIP file, and the checks by country
	// were skipped.
	GeoIPMismatch string `json:"geoip_mismatch,omitempty"`
}

// selection is one summary query: a filter and an optional group-by dimension.
type selection struct {
	filter map[string]string
	by     string
}

// byCountry says whether the selection filters or groups by country.
func (s selection) byCountry() bool { return s.by == "country" || s.filter["country"] != "" }

// countriesMismatch reports whether rumd's page views by country differ from those the
// tool sent (the accepted beacons by the country of their client range), with one example.
// Then rumd does not run with the tool's GeoIP file (it has none, or another database places
// the tool's ranges elsewhere), and every check by country would fail for that one cause.
func countriesMismatch(ctx context.Context, c *apiClient, pool *Pool, accepted []uint32, from, to int64) (string, error) {
	want := map[string]int64{}
	for i := range pool.Items {
		if accepted[i] > 0 && pool.Items[i].Has&(1<<series.TTFB) != 0 {
			want[pool.Items[i].Country] += int64(accepted[i])
		}
	}
	if len(want) == 0 || (len(want) == 1 && want["XX"] > 0) {
		return "", nil
	}
	a, err := c.summary(ctx, "ttfb", from, to, []string{"0.5"}, selection{by: "country"})
	if err != nil {
		return "", ctx.Err() // the check by country reports the query's failure itself
	}
	if len(a.Rows) == 0 {
		return "", nil // nothing counted at all: the other checks say so
	}
	got := map[string]int64{}
	for _, r := range a.Rows {
		got[r.Labels["country"]] = int64(math.Round(r.Count))
	}
	for _, cc := range sortedKeys(want) {
		if got[cc] != want[cc] {
			return fmt.Sprintf("%s: sent %d, rumd counted %d", cc, want[cc], got[cc]), nil
		}
	}
	return "", nil
}

// groupKey returns the label value of item it for dimension d.
func groupKey(it *Item, d string) string {
	switch d {
	case "page":
		return it.Page
	case "country":
		return it.Country
	case "device":
		return it.Device
	case "nav":
		return it.Nav
	case "variant":
		return it.Variant
	}
	return ""
}

func (s selection) matches(it *Item) bool {
	for d, v := range s.filter {
		if groupKey(it, d) != v {
			return false
		}
	}
	return true
}

func (s selection) name(group string) string {
	var parts []string
	for _, d := range sortedKeys(s.filter) {
		parts = append(parts, d+"="+s.filter[d])
	}
	if s.by != "" {
		parts = append(parts, s.by+"="+group)
	}
	if len(parts) == 0 {
		return "total"
	}
	return strings.Join(parts, ",")
}

// summaryRow is one row of /api/v1/summary (docs/design.md §5).
type summaryRow struct {
	Labels map[string]string  `json:"labels"`
	Count  float64            `json:"count"` // a float in rumd's answers (a sketch's count)
	Q      map[string]float64 `json:"q"`
}

type summaryAnswer struct {
	Rows []summaryRow `json:"rows"`
}

// apiClient queries rumd's API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *apiClient) get(ctx context.Context, path string, params url.Values, into any) error {
	u := c.base + path + "?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return nil
}

func (c *apiClient) summary(ctx context.Context, metric string, from, to int64, qs []string, sel selection) (*summaryAnswer, error) {
	p := url.Values{}
	p.Set("metric", metric)
	p.Set("from", strconv.FormatInt(from, 10))
	p.Set("to", strconv.FormatInt(to, 10))
	p.Set("q", strings.Join(qs, ","))
	for d, v := range sel.filter {
		p.Set(d, v)
	}
	if sel.by != "" {
		p.Set("by", sel.by)
	}
	var a summaryAnswer
	if err := c.get(ctx, "/api/v1/summary", p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// waitVisible polls the total count of ttfb (present in every good beacon) until it
// reaches want or the timeout passes; it returns the count last seen.
func (c *apiClient) waitVisible(ctx context.Context, from, to int64, want int64, timeout time.Duration) (int64, time.Duration, error) {
	start := time.Now()
	var seen int64
	for {
		a, err := c.summary(ctx, "ttfb", from, to, []string{"0.5"}, selection{})
		if err != nil {
			return 0, time.Since(start), err
		}
		seen = 0
		for _, r := range a.Rows {
			seen += int64(math.Round(r.Count))
		}
		if seen >= want || time.Since(start) > timeout {
			return seen, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return seen, time.Since(start), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkAccuracy compares, per metric and for a sample of groups, the quantiles rumd answers
// over [from, to] with the exact quantiles of the values pool's accepted sends carried.
func checkAccuracy(ctx context.Context, c *apiClient, pool *Pool, accepted []uint32, from, to int64, opts *Options) (*Accuracy, error) {
	qs := make([]string, len(opts.Quantiles))
	for i, q := range opts.Quantiles {
		qs[i] = strconv.FormatFloat(q, 'g', -1, 64)
	}
	acc := &Accuracy{}
	perQ := make([]*Comparison, len(qs))
	perM := make([]*Comparison, series.NumPageMetrics)
	mismatch, err := countriesMismatch(ctx, c, pool, accepted, from, to)
	if err != nil {
		return acc, err
	}
	acc.GeoIPMismatch = mismatch
	for _, sel := range selections(pool, accepted, opts.MaxGroups) {
		if mismatch != "" && sel.byCountry() {
			continue
		}
		for m := range series.NumPageMetrics {
			metric := series.Metric(m).String()
			// Our side: the values of accepted sends, by group.
			mine := map[string][]weighted{}
			for i := range pool.Items {
				it := &pool.Items[i]
				if accepted[i] == 0 || it.Has&(1<<m) == 0 || !sel.matches(it) {
					continue
				}
				g := groupKey(it, sel.by)
				mine[g] = append(mine[g], weighted{it.Values[m], accepted[i]})
			}
			if len(mine) == 0 {
				continue
			}
			ans, err := c.summary(ctx, metric, from, to, qs, sel)
			acc.Queries++
			if err != nil {
				// One refused query (a view rumd is not configured with, say) does not void
				// the rest of the check; it fails it.
				if ctx.Err() != nil {
					return acc, err
				}
				acc.QueryErrors = append(acc.QueryErrors, err.Error())
				continue
			}
			rows := map[string]*summaryRow{}
			for i := range ans.Rows {
				rows[ans.Rows[i].Labels[sel.by]] = &ans.Rows[i]
			}
			for _, g := range topGroups(mine, opts.MaxGroups) {
				name := metric + " " + sel.name(g)
				n, exact := exactQuantiles(mine[g], opts.Quantiles)
				row, ok := rows[g]
				if sel.by == "" && len(ans.Rows) == 1 {
					row, ok = &ans.Rows[0], true
				}
				if !ok {
					acc.Missing = append(acc.Missing, name)
					continue
				}
				if int64(math.Round(row.Count)) != n {
					acc.CountMismatches = append(acc.CountMismatches,
						fmt.Sprintf("%s: rumd %g, sent and accepted %d", name, row.Count, n))
				}
				acc.Groups++
				for k, q := range opts.Quantiles {
					got, ok := row.Q[qs[k]]
					if !ok {
						got = math.NaN()
					}
					cmp := Comparison{Metric: metric, Group: sel.name(g), Q: q, Exact: exact[k],
						Got: got, RelError: relError(got, exact[k]), Count: n}
					acc.Compared++
					if perQ[k] == nil || cmp.RelError > perQ[k].RelError {
						cp := cmp
						perQ[k] = &cp
					}
					if perM[m] == nil || cmp.RelError > perM[m].RelError {
						cp := cmp
						perM[m] = &cp
					}
					if acc.Worst == nil || cmp.RelError > acc.Worst.RelError {
						cp := cmp
						acc.Worst = &cp
					}
				}
			}
		}
	}
	for _, c := range perQ {
		if c != nil {
			acc.PerQ = append(acc.PerQ, *c)
		}
	}
	for _, c := range perM {
		if c != nil {
			acc.PerMetric = append(acc.PerMetric, *c)
		}
	}
	return acc, nil
}

// selections are the queries of the check: the total, each dimension grouped, and a few
// two-dimension cuts served by rumd's default views ([page,country], [variant,country]).
func selections(pool *Pool, accepted []uint32, maxGroups int) []selection {
	sels := []selection{{}}
	for _, d := range []string{"country", "page", "device", "nav", "variant"} {
		sels = append(sels, selection{by: d})
	}
	counts := map[string][]weighted{}
	for i := range pool.Items {
		if accepted[i] > 0 {
			counts[pool.Items[i].Country] = append(counts[pool.Items[i].Country], weighted{0, accepted[i]})
		}
	}
	top := topGroups(counts, 3)
	for _, c := range top {
		sels = append(sels, selection{filter: map[string]string{"country": c}, by: "page"})
	}
	if len(top) > 0 {
		sels = append(sels, selection{filter: map[string]string{"variant": "cdn-a"}, by: "country"})
	}
	return sels
}

// topGroups returns up to n groups with the most values, most first, ties by name.
func topGroups(m map[string][]weighted, n int) []string {
	type gc struct {
		g string
		c int64
	}
	var all []gc
	for g, xs := range m {
		var c int64
		for _, x := range xs {
			c += int64(x.w)
		}
		all = append(all, gc{g, c})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].c != all[j].c {
			return all[i].c > all[j].c
		}
		return all[i].g < all[j].g
	})
	out := make([]string, 0, n)
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, all[i].g)
	}
	return out
}
