package graphite

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"rumd/internal/series"
	"rumd/query"
)

// findNode is one node of the path tree.
type findNode struct {
	path string
	text string
	leaf bool
}

// walker lists the nodes of the path tree that match a pattern.
type walker struct {
	h           *handler
	ctx         context.Context
	from, until int64
	globs       []glob
	raw         []string
	limit       int
	out         []findNode
	truncated   bool
	values      map[series.Dim][]string // encoded label values, per dimension
	narrowed    map[string]map[string]bool
}

// find lists the nodes matching pattern, at most limit of them.
func (h *handler) walk(ctx context.Context, pattern string, from, until int64, limit int) (*walker, error) {
	w := &walker{h: h, ctx: ctx, from: from, until: until, limit: limit, values: map[series.Dim][]string{}}
	w.raw = splitPath(pattern)
	for _, n := range w.raw {
		g, err := compileGlob(n)
		if err != nil {
			return nil, badf("bad_path", "%v", err)
		}
		w.globs = append(w.globs, g)
	}
	return w, w.visit(0, "", nil)
}

func (w *walker) labelValues(d series.Dim) ([]string, error) {
	if v, ok := w.values[d]; ok {
		return v, nil
	}
	raw, err := w.h.eng.LabelValues(w.ctx, d, w.from, w.until)
	if err != nil {
		return nil, err
	}
	enc := make([]string, len(raw))
	for i, v := range raw {
		enc[i] = EncodeNode(v)
	}
	w.values[d] = enc
	return enc, nil
}

// narrow keeps, of the values vals of the view's j-th dimension, those that occur together
// with the values the path already names for the dimensions before it: in a template
// variable chain page → country, the countries offered are those of that page. It asks the
// query engine for the counts of two common metrics grouped by the dimension (probe_total
// for probe views) over the find range. A query no view or range can answer (keepAll)
// leaves vals as they are; any other error, a deadline or a budget spent above all, fails
// the find: an answer wider than the truth would send a dashboard to empty panels.
func (w *walker) narrow(view *series.View, j int, path string, vals []string) ([]string, error) {
	parts := splitPath(path)
	if len(parts) < 2+j {
		return vals, nil
	}
	var req query.Request
	req.From, req.To = w.from, w.until
	key := view.String()
	for d := 0; d < j; d++ {
		v, err := DecodeNode(parts[2+d])
		if err != nil {
			return vals, nil
		}
		req.Match[view.Dims[d]] = query.Equal(v)
		key += "\x00" + v
	}
	dim := view.Dims[j]
	key += "\x00" + dim.String()
	if cached, ok := w.narrowed[key]; ok {
		return intersect(vals, cached), nil
	}
	req.By = []series.Dim{dim}
	metrics := []series.Metric{series.TTFB, series.FCP}
	if view.ForProbes() {
		metrics = []series.Metric{series.ProbeTotal}
	}
	seen := map[string]bool{}
	for _, m := range metrics {
		req.Metric = m
		res, err := w.h.eng.Query(w.ctx, req)
		if keepAll(err) {
			return vals, nil // e.g. a view without these metrics: offer every value
		}
		if err != nil {
			return nil, err
		}
		for _, g := range res.Groups {
			seen[EncodeNode(g.Labels[dim])] = true
		}
	}
	if w.narrowed == nil {
		w.narrowed = map[string]map[string]bool{}
	}
	w.narrowed[key] = seen
	return intersect(vals, seen), nil
}

// keepAll reports whether a narrowing query's error says only that it cannot be asked
// (no view holds the metric and dimensions, or the range cannot be planned), so every
// value stays on offer; nil and every other error do not.
func keepAll(err error) bool {
	var qe *query.Error
	return errors.As(err, &qe) && (qe.Reason == query.NoView || qe.Reason == query.BadRange)
}

func intersect(vals []string, keep map[string]bool) []string {
	out := make([]string, 0, len(keep))
	for _, v := range vals {
		if keep[v] {
			out = append(out, v)
		}
	}
	return out
}

// visit lists the children of path at level i (view is known from level 2 on).
func (w *walker) visit(i int, path string, view *series.View) error {
	if w.truncated {
		return nil
	}
	type child struct {
		text string
		leaf bool
		view *series.View
	}
	var kids []child
	switch {
	case i == 0:
		kids = []child{{text: w.h.opts.Prefix}}
	case i == 1:
		views := w.h.eng.Views()
		for j := range views {
			kids = append(kids, child{text: viewName(views[j]), view: &views[j]})
		}
	default:
		k := len(view.Dims)
		switch j := i - 2; {
		case j < k:
			vals, err := w.labelValues(view.Dims[j])
			if err == nil && j > 0 {
				vals, err = w.narrow(view, j, path, vals)
			}
			if err != nil {
				return err
			}
			for _, v := range vals {
				kids = append(kids, child{text: v})
			}
		case j == k:
			for m := series.Metric(0); m < series.NumMetrics; m++ {
				if view.Carries(m) {
					kids = append(kids, child{text: m.String()})
				}
			}
		case j == k+1:
			for _, s := range browseStats {
				kids = append(kids, child{text: s, leaf: true})
			}
			if lit := w.raw[i]; !hasWildcard(lit) && !contains(browseStats, lit) {
				if _, err := parseStat(lit); err == nil {
					kids = append(kids, child{text: lit, leaf: true})
				}
			}
		}
	}
	for _, c := range kids {
		if !w.globs[i].match(c.text) {
			continue
		}
		p := c.text
		if path != "" {
			p = path + "." + c.text
		}
		v := view
		if c.view != nil {
			v = c.view
		}
		if i == len(w.globs)-1 {
			if len(w.out) >= w.limit {
				w.truncated = true
				return nil
			}
			w.out = append(w.out, findNode{path: p, text: c.text, leaf: c.leaf})
			continue
		}
		if c.leaf {
			continue
		}
		if err := w.visit(i+1, p, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// find answers /metrics/find: treejson by default, or format=completer.
func (h *handler) find(c *fiber.Ctx) error {
	q := param(c, "query")
	if q == "" {
		return h.fail(c, badf("bad_argument", "query is required, e.g. query=%s.*", h.opts.Prefix))
	}
	from, until, err := h.timeRange(c, "-7d")
	if err != nil {
		return h.fail(c, err)
	}
	ctx, done, err := h.eng.Begin(c.UserContext())
	if err != nil {
		return h.fail(c, err)
	}
	defer done()
	w, err := h.walk(ctx, q, from, until, h.opts.MaxFindResults)
	if err != nil {
		return h.fail(c, err)
	}
	if w.truncated {
		c.Set("X-Rumd-Truncated", "true")
	}
	if param(c, "format") == "completer" {
		type entry struct {
			Path   string `json:"path"`
			Name   string `json:"name"`
			IsLeaf string `json:"is_leaf"`
		}
		out := make([]entry, 0, len(w.out))
		for _, n := range w.out {
			p := n.path
			if !n.leaf {
				p += "."
			}
			out = append(out, entry{Path: p, Name: n.text, IsLeaf: strconv.Itoa(b2i(n.leaf))})
		}
		return c.JSON(fiber.Map{"metrics": out})
	}
	type node struct {
		Text          string            `json:"text"`
		ID            string            `json:"id"`
		Leaf          int               `json:"leaf"`
		Expandable    int               `json:"expandable"`
		AllowChildren int               `json:"allowChildren"`
		Context       map[string]string `json:"context"`
	}
	out := make([]node, 0, len(w.out))
	for _, n := range w.out {
		out = append(out, node{Text: n.text, ID: n.path, Leaf: b2i(n.leaf), Expandable: 1 - b2i(n.leaf), AllowChildren: 1 - b2i(n.leaf), Context: map[string]string{}})
	}
	return c.JSON(out)
}

// expand answers /metrics/expand: the paths matching each query, sorted.
func (h *handler) expand(c *fiber.Ctx) error {
	qs := params(c, "query")
	if len(qs) == 0 {
		return h.fail(c, badf("bad_argument", "query is required, e.g. query=%s.*", h.opts.Prefix))
	}
	from, until, err := h.timeRange(c, "-7d")
	if err != nil {
		return h.fail(c, err)
	}
	ctx, done, err := h.eng.Begin(c.UserContext())
	if err != nil {
		return h.fail(c, err)
	}
	defer done()
	leavesOnly := param(c, "leavesOnly") == "1" || param(c, "leavesOnly") == "true"
	groups := map[string][]string{}
	var all []string
	seen := map[string]bool{}
	for _, q := range qs {
		w, err := h.walk(ctx, q, from, until, h.opts.MaxFindResults)
		if err != nil {
			return h.fail(c, err)
		}
		if w.truncated {
			c.Set("X-Rumd-Truncated", "true")
		}
		list := []string{}
		for _, n := range w.out {
			if leavesOnly && !n.leaf {
				continue
			}
			list = append(list, n.path)
			if !seen[n.path] {
				seen[n.path] = true
				all = append(all, n.path)
			}
		}
		sort.Strings(list)
		groups[q] = list
	}
	if g := param(c, "groupByExpr"); g == "1" || g == "true" {
		return c.JSON(fiber.Map{"results": groups})
	}
	sort.Strings(all)
	if all == nil {
		all = []string{}
	}
	return c.JSON(fiber.Map{"results": all})
}
