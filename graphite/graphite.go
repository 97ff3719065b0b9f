package graphite

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/internal/series"
	"rumd/query"
)

// Version is what /version answers: the graphite-web API level rumd follows, so that
// Grafana offers tags and reads /functions.
const Version = "1.1.10"

// Options configures the Graphite API.
type Options struct {
	// Prefix is the first node of every path. Steps follow the query engine's step policy
	// (docs/query.md): a range reaching further back than a resolution's retention gets
	// steps of the next coarser one.
	Prefix string
	// MaxFindResults bounds the nodes one /metrics/find or /metrics/expand answers.
	MaxFindResults int
	// MaxPoints bounds the points (series × steps) one /render answers.
	MaxPoints int
	// Now is the clock relative times are read against. Default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the defaults: prefix "rumd".
func DefaultOptions() Options {
	return Options{
		Prefix:         "rumd",
		MaxFindResults: 10000,
		MaxPoints:      2_000_000,
		Now:            time.Now,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.Prefix == "" || EncodeNode(o.Prefix) != o.Prefix || strings.ContainsAny(o.Prefix, "~%") {
		return fmt.Errorf("graphite prefix %q must be a non-empty word of A-Z a-z 0-9 _ - :", o.Prefix)
	}
	if o.MaxFindResults < 1 {
		return errors.New("max find results must be positive")
	}
	if o.MaxPoints < 1 {
		return errors.New("max points must be positive")
	}
	if o.Now == nil {
		return errors.New("a clock (Now) is needed")
	}
	return nil
}

type handler struct {
	eng  *query.Engine
	opts Options
}

// Mount adds the Graphite API to r, each route at its exact path for GET and form POST:
// /render, /metrics/find, /metrics/expand, /tags/autoComplete/tags,
// /tags/autoComplete/values, /functions and /version. rumd's own GET /metrics is left alone.
func Mount(r fiber.Router, eng *query.Engine, opts Options) error {
	if eng == nil {
		return errors.New("graphite: a query engine is needed")
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("graphite: %w", err)
	}
	h := &handler{eng: eng, opts: opts}
	for path, fn := range map[string]fiber.Handler{
		"/render":                   h.render,
		"/metrics/find":             h.find,
		"/metrics/expand":           h.expand,
		"/tags/autoComplete/tags":   h.tagNames,
		"/tags/autoComplete/values": h.tagValues,
		"/functions":                h.functions,
		"/version":                  h.version,
	} {
		r.Get(path, fn)
		r.Post(path, fn)
	}
	return nil
}

// params reads a parameter from the query string and a form body alike.
func params(c *fiber.Ctx, key string) []string {
	var out []string
	for _, v := range c.Context().QueryArgs().PeekMulti(key) {
		out = append(out, string(v))
	}
	for _, v := range c.Context().PostArgs().PeekMulti(key) {
		out = append(out, string(v))
	}
	if len(out) == 0 {
		if f, err := c.MultipartForm(); err == nil && f != nil {
			out = append(out, f.Value[key]...)
		}
	}
	return out
}

func param(c *fiber.Ctx, key string) string {
	if v := params(c, key); len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// fail answers an error with the query layer's one mapping (docs/query.md): 400 with its
// reason for a caller's mistake, 503 for a timeout, 500 (logged) for a fault.
func (h *handler) fail(c *fiber.Ctx, err error) error {
	status, body := h.eng.Answer(c.Path(), err)
	if body.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(body.RetryAfter.Round(time.Second)/time.Second))))
	}
	return c.Status(status).JSON(body)
}

// timeRange reads from and until, with defaults.
func (h *handler) timeRange(c *fiber.Ctx, defFrom string) (from, until int64, err error) {
	now := h.opts.Now()
	f, u := param(c, "from"), param(c, "until")
	if f == "" {
		f = defFrom
	}
	if u == "" {
		u = "now"
	}
	if from, err = query.ParseTime(f, now); err != nil {
		return 0, 0, badf("bad_time", "from: %v", err)
	}
	if until, err = query.ParseTime(u, now); err != nil {
		return 0, 0, badf("bad_time", "until: %v", err)
	}
	if from >= until {
		return 0, 0, badf("bad_time", "from (%s) must be before until (%s)", f, u)
	}
	return from, until, nil
}

// stepFor is the query engine's step for (until − from) in maxDataPoints points
// (docs/query.md). maxDataPoints of 1 gets step 0: one point merging the whole range, as a
// stat or table panel wants it.
func (h *handler) stepFor(from, until int64, maxDataPoints int) int64 {
	if maxDataPoints == 1 {
		return 0
	}
	return h.eng.Step(h.opts.Now(), from, until, 0, maxDataPoints)
}

// resolution is the finest step still kept for data at from: a minute, or an hour or a day
// once the finer resolutions' retention has dropped it.
func (h *handler) resolution(from int64) int64 {
	return h.eng.Resolution(h.opts.Now(), from)
}

func (h *handler) render(c *fiber.Ctx) error {
	out, err := readOutput(c)
	if err != nil {
		return h.fail(c, err)
	}
	targets := params(c, "target")
	if len(targets) == 0 {
		return h.fail(c, badf("bad_target", "no target given"))
	}
	from, until, err := h.timeRange(c, "-24h")
	if err != nil {
		return h.fail(c, err)
	}
	ctx, done, err := h.eng.Begin(c.UserContext())
	if err != nil {
		return h.fail(c, err)
	}
	defer done()
	mdp := out.defaultMaxDataPoints()
	if s := param(c, "maxDataPoints"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n < 0 || n > 1e9 {
			return h.fail(c, badf("bad_argument", "maxDataPoints %q is not a positive number", s))
		}
		mdp = int(n)
	}
	ec := &evalCtx{ctx: ctx, h: h, from: from, until: until, step: h.stepFor(from, until, mdp), cache: map[string]*query.Result{}, points: new(int)}
	var all []*tseries
	for _, t := range targets {
		e, err := parseTarget(t)
		if err != nil {
			return h.fail(c, badf("bad_target", "%v", err))
		}
		list, err := ec.eval(e)
		if err != nil {
			return h.fail(c, err)
		}
		all = append(all, list...)
	}
	if err := out.send(c, all, from, until); err != nil {
		return h.fail(c, err)
	}
	return nil
}

// appendRender writes the render answer: [{"target", "step", "tags", "datapoints": [[v, t],
// ...]}], where the point at t merges [t, t+step).
func appendRender(b []byte, list []*tseries) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"target":`...)
		b = appendJSONString(b, s.legend())
		b = append(b, `,"step":`...)
		b = strconv.AppendInt(b, s.step, 10)
		b = append(b, `,"tags":`...)
		tags, _ := json.Marshal(s.tags)
		b = append(b, tags...)
		b = append(b, `,"datapoints":[`...)
		for j, v := range s.values {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendValue(b, v)
			b = append(b, ',')
			b = strconv.AppendInt(b, s.start+int64(j)*s.step, 10)
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func (h *handler) viewNames() []string {
	var out []string
	for _, v := range h.eng.Views() {
		out = append(out, viewName(v))
	}
	return out
}

func (h *handler) functions(c *fiber.Ctx) error {
	return c.JSON(functions)
}

func (h *handler) version(c *fiber.Ctx) error {
	return c.SendString(Version)
}

// tagNames answers /tags/autoComplete/tags: the tag names with tagPrefix, up to limit.
func (h *handler) tagNames(c *fiber.Ctx) error {
	prefix := param(c, "tagPrefix")
	var out []string
	for _, t := range tagNames() {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return c.JSON(limitList(c, out))
}

// tagValues answers /tags/autoComplete/values: the values of tag with valuePrefix.
func (h *handler) tagValues(c *fiber.Ctx) error {
	tag := param(c, "tag")
	prefix := param(c, "valuePrefix")
	var vals []string
	switch tag {
	case "name", "metric":
		vals = series.MetricNames()
	case "stat":
		vals = append([]string(nil), browseStats...)
	default:
		d, ok := series.ParseDim(tag)
		if !ok {
			return h.fail(c, badf("bad_argument", "unknown tag %q; tags are %s", tag, strings.Join(tagNames(), ", ")))
		}
		from, until, err := h.timeRange(c, "-7d")
		if err != nil {
			return h.fail(c, err)
		}
		ctx, cancel := h.eng.WithTimeout(c.UserContext())
		defer cancel()
		if vals, err = h.eng.LabelValues(ctx, d, from, until); err != nil {
			return h.fail(c, err)
		}
	}
	out := []string{}
	for _, v := range vals {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return c.JSON(limitList(c, out))
}

func limitList(c *fiber.Ctx, l []string) []string {
	if l == nil {
		l = []string{}
	}
	if n, err := strconv.Atoi(param(c, "limit")); err == nil && n >= 0 && n < len(l) {
		l = l[:n]
	}
	return l
}
