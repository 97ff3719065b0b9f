package server

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/query"
)

// DefaultQuantiles are answered when a request gives no q.
const DefaultQuantiles = "0.5,0.75,0.95,0.99"

var validate = validator.New(validator.WithRequiredStructEnabled())

// apiParams are the parsed parameters of the series and summary endpoints; validator v10
// checks their bounds.
type apiParams struct {
	Metric    series.Metric
	From, To  int64     `validate:"gte=0"`
	Step      int64     `validate:"gte=60,lte=31536000"`
	Quantiles []float64 `validate:"min=1,max=20,dive,gte=0,lte=1"`
	QKeys     []string
	Match     [series.NumDims]func(string) bool
	By        []series.Dim `validate:"max=6"`
}

// seriesPoints is the point budget of a series when the request gives no step: a day of
// minutes.
const seriesPoints = 1440

// The range a query reads when it gives no from or to.
const defaultFrom, defaultTo = "-1h", "now"

func badParam(reason query.Reason, format string, a ...any) error {
	return query.Errorf(reason, format, a...)
}

// parseParams reads metric, from, to, step, q, by and the dimension filters. withStep is
// false for the summary and compare, which answer one point over the range. The range is
// widened to whole steps (or whole units of the stored resolution) by the step policy of
// docs/query.md, so that old ranges are read from whole rollups.
func (s *Server) parseParams(c *fiber.Ctx, withStep bool) (*apiParams, error) {
	p := &apiParams{}
	name := c.Query("metric")
	m, ok := series.ParseMetric(name)
	if !ok {
		return nil, badParam(query.BadMetric, "metric %q is not one of %s", name, strings.Join(series.MetricNames(), ", "))
	}
	p.Metric = m
	now := s.deps.Now()
	var err error
	if p.From, err = query.ParseTime(c.Query("from", defaultFrom), now); err != nil {
		return nil, badParam(query.BadTime, "from: %v", err)
	}
	if p.To, err = query.ParseTime(c.Query("to", defaultTo), now); err != nil {
		return nil, badParam(query.BadTime, "to: %v", err)
	}
	if p.From >= p.To {
		return nil, badParam(query.BadTime, "from (%d) must be before to (%d)", p.From, p.To)
	}
	p.Step = 60
	if withStep {
		var asked int64
		if raw := c.Query("step"); raw != "" {
			if asked, err = query.ParseStep(raw); err != nil {
				return nil, badParam(query.BadStep, "step: %v", err)
			}
		}
		p.Step = s.deps.Engine.Step(now, p.From, p.To, asked, seriesPoints)
		p.From, p.To = query.Whole(p.From, p.To, p.Step)
	} else {
		p.From, p.To = s.deps.Engine.Span(now, p.From, p.To)
	}
	for _, k := range strings.Split(c.Query("q", DefaultQuantiles), ",") {
		k = strings.TrimSpace(k)
		q, err := strconv.ParseFloat(k, 64)
		if err != nil || math.IsNaN(q) {
			return nil, badParam(query.BadQuantile, "q: %q is not a number between 0 and 1", k)
		}
		p.Quantiles, p.QKeys = append(p.Quantiles, q), append(p.QKeys, k)
	}
	if by := c.Query("by"); by != "" {
		for _, n := range strings.Split(by, ",") {
			d, ok := series.ParseDim(strings.TrimSpace(n))
			if !ok {
				return nil, badParam(query.BadDimension, "by: %q is not one of %s", n, strings.Join(series.DimNames(), ", "))
			}
			p.By = append(p.By, d)
		}
	}
	for d := series.Dim(0); d < series.NumDims; d++ {
		vals := c.Context().QueryArgs().PeekMulti(d.String())
		if len(vals) == 0 {
			continue
		}
		set := map[string]bool{}
		for _, v := range vals {
			set[string(v)] = true
		}
		p.Match[d] = func(v string) bool { return set[v] }
	}
	if err := validate.Struct(p); err != nil {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) && len(ve) > 0 {
			f := ve[0]
			field, _, _ := strings.Cut(f.StructField(), "[")
			switch field {
			case "Step":
				return nil, badParam(query.BadStep, "step must be between 60 s and a year, got %d s", p.Step)
			case "Quantiles":
				return nil, badParam(query.BadQuantile, "q takes 1 to 20 quantiles, each between 0 and 1")
			case "By":
				return nil, badParam(query.BadDimension, "by takes at most %d dimensions", series.NumDims)
			}
			return nil, badParam(query.BadParam, "%s fails %s", f.Field(), f.Tag())
		}
		return nil, badParam(query.BadParam, "%v", err)
	}
	return p, nil
}

// runQuery answers one query of a request; ctx carries the request's timeout.
func (s *Server) runQuery(ctx context.Context, p *apiParams, step int64) (*query.Result, error) {
	return s.deps.Engine.Query(ctx, query.Request{Metric: p.Metric, From: p.From, To: p.To, Step: step, Match: p.Match, By: p.By})
}

// queryError answers a refused or failed query with the query layer's status and body
// (docs/query.md).
func (s *Server) queryError(c *fiber.Ctx, endpoint string, err error) error {
	status, body := s.deps.Engine.Answer(endpoint, err)
	if body.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, retryAfter(body.RetryAfter))
	}
	return c.Status(status).JSON(body)
}

func quantiles(p *apiParams, sk *ddsketch.DDSketch) map[string]float64 {
	out := make(map[string]float64, len(p.Quantiles))
	for i, q := range p.Quantiles {
		out[p.QKeys[i]] = round(sketch.Quantile(sk, q))
	}
	return out
}

// round keeps 7 significant digits: enough that no quantile loses accuracy (a CLS of 0.031
// keeps its digits, where rounding to 3 decimals cost it 1.5%), short enough to read.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 7, 64), 64)
	return r
}

type seriesPoint struct {
	T     int64              `json:"t"`
	Count float64            `json:"count"`
	Q     map[string]float64 `json:"q"`
}

type seriesGroup struct {
	Labels map[string]string `json:"labels"`
	Points []seriesPoint     `json:"points"`
}

type seriesAnswer struct {
	Metric string        `json:"metric"`
	Unit   string        `json:"unit"`
	Step   int64         `json:"step"`
	From   int64         `json:"from"`
	To     int64         `json:"to"`
	View   []string      `json:"view"`
	Series []seriesGroup `json:"series"`
}

func (s *Server) series(c *fiber.Ctx) error {
	const endpoint = "series"
	defer s.timeQuery(endpoint)()
	ctx, done, err := s.deps.Engine.Begin(c.UserContext())
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	defer done()
	p, err := s.parseParams(c, true)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	asCSV, err := wantsCSV(c)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	res, err := s.runQuery(ctx, p, p.Step)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	if asCSV {
		return s.writeCSV(c, p, res, true, "series")
	}
	ans := seriesAnswer{Metric: p.Metric.String(), Unit: p.Metric.Unit(), Step: p.Step, From: p.From, To: p.To,
		View: res.View.Names(), Series: []seriesGroup{}}
	for _, g := range res.Groups {
		sg := seriesGroup{Labels: g.Labels.Map(p.By), Points: make([]seriesPoint, 0, len(g.Points))}
		for _, pt := range g.Points {
			sg.Points = append(sg.Points, seriesPoint{T: pt.T, Count: pt.Sketch.GetCount(), Q: quantiles(p, pt.Sketch)})
		}
		ans.Series = append(ans.Series, sg)
	}
	return c.JSON(ans)
}

type summaryRow struct {
	Labels map[string]string  `json:"labels"`
	Count  float64            `json:"count"`
	Q      map[string]float64 `json:"q"`
}

type summaryAnswer struct {
	Metric string       `json:"metric"`
	Unit   string       `json:"unit"`
	From   int64        `json:"from"`
	To     int64        `json:"to"`
	View   []string     `json:"view"`
	Rows   []summaryRow `json:"rows"`
}

func (s *Server) summary(c *fiber.Ctx) error {
	const endpoint = "summary"
	defer s.timeQuery(endpoint)()
	ctx, done, err := s.deps.Engine.Begin(c.UserContext())
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	defer done()
	p, err := s.parseParams(c, false)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	asCSV, err := wantsCSV(c)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	res, err := s.runQuery(ctx, p, 0)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	if asCSV {
		return s.writeCSV(c, p, res, false, "summary")
	}
	ans := summaryAnswer{Metric: p.Metric.String(), Unit: p.Metric.Unit(), From: p.From, To: p.To, View: res.View.Names(), Rows: []summaryRow{}}
	for _, g := range res.Groups {
		sk := g.Points[0].Sketch
		ans.Rows = append(ans.Rows, summaryRow{Labels: g.Labels.Map(p.By), Count: sk.GetCount(), Q: quantiles(p, sk)})
	}
	return c.JSON(ans)
}

func (s *Server) timeRange(c *fiber.Ctx) (int64, int64, error) {
	now := s.deps.Now()
	from, err := query.ParseTime(c.Query("from", "-24h"), now)
	if err != nil {
		return 0, 0, badParam(query.BadTime, "from: %v", err)
	}
	to, err := query.ParseTime(c.Query("to", defaultTo), now)
	if err != nil {
		return 0, 0, badParam(query.BadTime, "to: %v", err)
	}
	if from >= to {
		return 0, 0, badParam(query.BadTime, "from (%d) must be before to (%d)", from, to)
	}
	return from, to + 1, nil
}

func (s *Server) labels(c *fiber.Ctx) error {
	const endpoint = "labels"
	defer s.timeQuery(endpoint)()
	ctx, cancel := s.deps.Engine.WithTimeout(c.UserContext())
	defer cancel()
	from, to, err := s.timeRange(c)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	out := []string{}
	for d := series.Dim(0); d < series.NumDims; d++ {
		vals, err := s.deps.Engine.LabelValues(ctx, d, from, to)
		if err != nil {
			return s.queryError(c, endpoint, err)
		}
		if len(vals) > 0 {
			out = append(out, d.String())
		}
	}
	return c.JSON(fiber.Map{"labels": out})
}

func (s *Server) labelValues(c *fiber.Ctx) error {
	const endpoint = "label_values"
	defer s.timeQuery(endpoint)()
	ctx, cancel := s.deps.Engine.WithTimeout(c.UserContext())
	defer cancel()
	d, ok := series.ParseDim(c.Params("dim"))
	if !ok {
		return s.queryError(c, endpoint, badParam(query.BadDimension, "%q is not one of %s", c.Params("dim"), strings.Join(series.DimNames(), ", ")))
	}
	from, to, err := s.timeRange(c)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	vals, err := s.deps.Engine.LabelValues(ctx, d, from, to)
	if err != nil {
		return s.queryError(c, endpoint, err)
	}
	return c.JSON(fiber.Map{"label": d.String(), "values": vals})
}

func (s *Server) timeQuery(endpoint string) func() {
	t0 := time.Now()
	return func() { s.m.queryDuration.WithLabelValues(endpoint).Observe(time.Since(t0).Seconds()) }
}
