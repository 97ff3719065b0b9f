package server

import (
	"maps"
	"math"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/query"
)

// DefaultCompareQuantiles are compared when a request gives no q.
const DefaultCompareQuantiles = "0.5,0.75,0.95"

// Selection describes one side of a comparison in the answer. From and To are the window
// read, in whole stored minutes (or hours or days): the asked window widened to the stored
// resolution and, when the two sides met inside one stored minute, cut apart (see
// CompareAnswer.Cut).
type Selection struct {
	Count   float64           `json:"count"`
	From    int64             `json:"from"`
	To      int64             `json:"to"`
	Filters map[string]string `json:"filters,omitempty"`
	asked   query.Window      // the window as asked, before widening
}

// CompareGroup is the comparison of one group (all of it when there is no group-by).
type CompareGroup struct {
	Labels    map[string]string `json:"labels"`
	A         Selection         `json:"a"`
	B         Selection         `json:"b"`
	Quantiles []Delta           `json:"quantiles"`
	// Headline is the quantile the verdict is about (see headline).
	Headline float64 `json:"headline"`
	Verdict  string  `json:"verdict"`
}

// Delta is a query.QuantileDelta as JSON: values that do not exist (a quantile of an empty
// side, the interval of a side too small to bound) are null.
type Delta struct {
	Q           float64     `json:"q"`
	A           *float64    `json:"a"`
	B           *float64    `json:"b"`
	Delta       *float64    `json:"delta"`
	Rel         *float64    `json:"rel"`
	CI          *[2]float64 `json:"ci"`
	Significant bool        `json:"significant"`
	Enough      bool        `json:"enough"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	r := round(v)
	return &r
}

func toJSON(d query.QuantileDelta) Delta {
	out := Delta{Q: d.Q, A: finite(d.A), B: finite(d.B), Delta: finite(d.Delta), Rel: finite(d.Rel), Significant: d.Significant, Enough: d.Enough}
	if lo, hi := finite(d.CI[0]), finite(d.CI[1]); d.Enough && lo != nil && hi != nil {
		out.CI = &[2]float64{*lo, *hi}
	}
	return out
}

// CompareAnswer is the JSON answer of GET /api/v1/compare; rumd compare reads it too.
type CompareAnswer struct {
	Metric string   `json:"metric"`
	Unit   string   `json:"unit"`
	View   []string `json:"view"`
	// Cut, when set, says how windows a and b, which met inside a stored minute, were cut
	// apart so that no page view counts on both sides (query.Engine.Apart).
	Cut string `json:"cut,omitempty"`
	CompareGroup
	Groups []CompareGroup `json:"groups,omitempty"`
}

// selection is one side of a comparison: the shared parameters with its own a.* or b.*
// overrides (a time range, dimension values). Both sides read relative times against one
// now, so that a.to=-3min and b.from=-3min are the same instant.
func (s *Server) selection(c *fiber.Ctx, p *apiParams, side string, now time.Time) (*apiParams, Selection, error) {
	sel := *p
	info := Selection{Filters: map[string]string{}}
	var err error
	// A side without its own from or to takes the shared one as asked, not as widened, so
	// that a.to=-1h against the shared from=-1h is a boundary, not an overlap.
	if sel.From, err = query.ParseTime(c.Query(side+".from", c.Query("from", defaultFrom)), now); err != nil {
		return nil, info, badParam(query.BadTime, "%s.from: %v", side, err)
	}
	if sel.To, err = query.ParseTime(c.Query(side+".to", c.Query("to", defaultTo)), now); err != nil {
		return nil, info, badParam(query.BadTime, "%s.to: %v", side, err)
	}
	if sel.From >= sel.To {
		return nil, info, badParam(query.BadTime, "%s: from (%d) must be before to (%d)", side, sel.From, sel.To)
	}
	info.asked = query.Window{From: sel.From, To: sel.To}
	sel.From, sel.To = s.deps.Engine.Span(now, sel.From, sel.To)
	info.From, info.To = sel.From, sel.To
	for d := series.Dim(0); d < series.NumDims; d++ {
		if v := c.Query(side + "." + d.String()); v != "" {
			sel.Match[d] = query.Equal(v)
			info.Filters[d.String()] = v
		}
	}
	return &sel, info, nil
}

// apart refuses two sides that select the same page views, and keeps two windows over the
// same filters from reading one stored minute twice (query.Engine.Apart), setting the
// windows read on the selections; the note says how they were cut, if they were.
func (s *Server) apart(now time.Time, pa, pb *apiParams, infoA, infoB *Selection) (note string, err error) {
	if !maps.Equal(infoA.Filters, infoB.Filters) {
		return "", nil // different values of a dimension: different page views
	}
	if infoA.asked == infoB.asked || infoA.From == infoB.From && infoA.To == infoB.To {
		return "", badParam(query.BadSelection, "a and b are the same selection (the same filters over %s to %s): give different a.<dim>/b.<dim> values or a.from/a.to/b.from/b.to",
			time.Unix(infoA.From, 0).UTC().Format(time.RFC3339), time.Unix(infoA.To, 0).UTC().Format(time.RFC3339))
	}
	wa, wb, cut, err := s.deps.Engine.Apart(now, infoA.asked, infoB.asked)
	if err != nil {
		return "", err
	}
	pa.From, pa.To, infoA.From, infoA.To = wa.From, wa.To, wa.From, wa.To
	pb.From, pb.To, infoB.From, infoB.To = wb.From, wb.To, wb.From, wb.To
	if cut {
		note = query.CutNote(wa, wb)
	}
	return note, nil
}

// compare answers GET /api/v1/compare: two selections (variants over one range, or two
// time ranges over one set of filters), per quantile their values, the delta with its 95%
// confidence interval, and a verdict in plain words. The method is documented on
// query.QuantileDelta.
func (s *Server) compare(c *fiber.Ctx) error {
	const endpoint = "compare"
	defer s.timeQuery(endpoint)()
	ctx, done, err := s.deps.Engine.Begin(c.UserContext())
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	defer done()
	if c.Query("q") == "" {
		c.Request().URI().QueryArgs().Set("q", DefaultCompareQuantiles)
	}
	p, err := s.parseParams(c, false)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	now := s.deps.Now()
	pa, infoA, err := s.selection(c, p, "a", now)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	pb, infoB, err := s.selection(c, p, "b", now)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	cut, err := s.apart(now, pa, pb, &infoA, &infoB)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	// Both sides are read from one view, the one that holds both sides' dimensions.
	for d := series.Dim(0); d < series.NumDims; d++ {
		if pa.Match[d] != nil || pb.Match[d] != nil {
			for _, sel := range []*apiParams{pa, pb} {
				if sel.Match[d] == nil {
					sel.Match[d] = func(string) bool { return true }
				}
			}
		}
	}
	ra, err := s.runQuery(ctx, pa, 0)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	rb, err := s.runQuery(ctx, pb, 0)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	ans := CompareAnswer{Metric: p.Metric.String(), Unit: p.Metric.Unit(), View: ra.View.Names(), Cut: cut}
	headline := headline(p.Quantiles)
	byKey := map[string]*query.Group{}
	key := func(l *series.Labels) string { return string(series.AppendKey(nil, series.View{Dims: p.By}, l)) }
	var order []string
	for i := range ra.Groups {
		k := key(&ra.Groups[i].Labels)
		byKey["a"+k] = &ra.Groups[i]
		order = append(order, k)
	}
	for i := range rb.Groups {
		k := key(&rb.Groups[i].Labels)
		byKey["b"+k] = &rb.Groups[i]
		if byKey["a"+k] == nil {
			order = append(order, k)
		}
	}
	if len(order) == 0 {
		order = []string{key(&series.Labels{})}
	}
	for _, k := range order {
		g := CompareGroup{A: infoA, B: infoB}
		sa, sb := sketch.New(), sketch.New()
		var labels series.Labels
		if ga := byKey["a"+k]; ga != nil {
			sa, labels = ga.Points[0].Sketch, ga.Labels
		}
		if gb := byKey["b"+k]; gb != nil {
			sb, labels = gb.Points[0].Sketch, gb.Labels
		}
		g.Labels = labels.Map(p.By)
		g.A.Count, g.B.Count = sa.GetCount(), sb.GetCount()
		for i, q := range p.Quantiles {
			d := query.CompareQuantile(sa, sb, q)
			g.Quantiles = append(g.Quantiles, toJSON(d))
			if i == headline {
				g.Headline = q
				g.Verdict = query.Verdict(d, p.Metric.Unit(), g.A.Count, g.B.Count)
			}
		}
		ans.Groups = append(ans.Groups, g)
	}
	if len(p.By) == 0 {
		ans.CompareGroup, ans.Groups = ans.Groups[0], nil
	}
	return c.JSON(ans)
}

// headline picks the index of the quantile the verdict is about, from the quantiles'
// values, never their order in q: p75 when asked, otherwise the middle one by value (the
// lower of the two middle ones for an even count).
func headline(qs []float64) int {
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return qs[order[a]] < qs[order[b]] })
	for _, i := range order {
		if qs[i] == 0.75 {
			return i
		}
	}
	return order[(len(order)-1)/2]
}
