// Package query answers percentile questions over any time range: it picks the smallest
// view that holds the asked dimensions, plans each step over the coarsest stored
// resolution that fits (day and hour rollups where whole, minutes elsewhere, memory for
// windows not yet stored), and merges sketches per group and step. Percentiles are read
// from the merged sketch, never averaged. It is the layer under both front-ends, the JSON
// API and the Graphite API: it also holds their step policy, their reading of times and
// durations, their timeout, and their error codes with the one mapping of those to HTTP
// answers (docs/query.md).
package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

// Store is what queries need of storage.
type Store interface {
	Scan(r storage.Res, view series.Mask, m series.Metric, from, to int64, fn func(start int64, seriesKey, sketch []byte) error) error
	Rolled() (hourDone, dayDone int64)
	LabelValues(d series.Dim, from, to int64) ([]string, error)
}

// Live is what queries need of the aggregator's in-memory windows.
type Live interface {
	Collect(view series.Mask, m series.Metric, from, to int64, fn func(start int64, l *series.Labels, c *sketch.Counts)) (memFrom int64)
	LabelValues(d series.Dim) []string
}

var (
	_ Store = (*storage.DB)(nil)
	_ Live  = (*aggregator.Aggregator)(nil)
)

// Options configures the query engine.
type Options struct {
	// Views are the materialised views queries are answered from.
	Views []series.View
	// Retention is how long storage keeps each resolution: the step policy never picks a
	// step finer than what is still kept for the start of a range (docs/query.md).
	Retention [storage.NumRes]time.Duration
	// Timeout bounds one API request's queries, in both front-ends.
	Timeout time.Duration
}

// DefaultOptions returns the defaults: the default views, storage's default retention, and
// a 30 s timeout.
func DefaultOptions() Options {
	return Options{
		Views:     series.DefaultViews(),
		Retention: storage.DefaultOptions().Retention,
		Timeout:   30 * time.Second,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	if len(o.Views) == 0 {
		return errors.New("query: at least one view is needed")
	}
	for r := storage.Res(0); r < storage.NumRes; r++ {
		if o.Retention[r] <= 0 {
			return fmt.Errorf("query: retention of %s data must be positive", r)
		}
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("query: timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Engine runs queries.
type Engine struct {
	store Store
	live  Live
	opts  Options
	log   *slog.Logger
}

// New builds an engine over a store and the live windows; a nil logger discards.
func New(logger *slog.Logger, store Store, live Live, opts Options) (*Engine, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if store == nil || live == nil {
		return nil, errors.New("query: a store and the live windows are needed")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: store, live: live, opts: opts, log: logger}, nil
}

// Views returns the materialised views.
func (e *Engine) Views() []series.View { return e.opts.Views }

// WithTimeout bounds the queries of one API request: each front-end derives every
// request's context from it.
func (e *Engine) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.Timeout)
}

// Request is one query.
type Request struct {
	Metric series.Metric
	From   int64 // unix seconds, inclusive; rounded down to a minute
	To     int64 // unix seconds, exclusive; rounded up to a minute
	// Step is the length of one point in seconds, a multiple of 60; points start at
	// multiples of Step since the epoch. 0 means a single point over [From, To).
	Step int64
	// Match filters a dimension's values; nil accepts any value.
	Match [series.NumDims]func(string) bool
	// By lists the dimensions to group by.
	By []series.Dim
}

// Equal returns a matcher for one exact value.
func Equal(v string) func(string) bool { return func(s string) bool { return s == v } }

// Point is the merged sketch of one step of one group.
type Point struct {
	T      int64 // start of the step, unix seconds
	Sketch *ddsketch.DDSketch
}

// Group is one group's points, oldest first; steps without data are left out.
type Group struct {
	Labels series.Labels // values of the By dimensions
	Points []Point
}

// Result is a query's answer.
type Result struct {
	View   series.View
	Groups []Group // sorted by label values
}

// NoViewError says no materialised view holds the dimensions a query needs.
type NoViewError struct {
	Metric series.Metric
	Need   series.Mask
	Views  []series.View
}

func (e *NoViewError) Error() string {
	var names []string
	for _, v := range e.Views {
		if v.Carries(e.Metric) {
			names = append(names, "["+strings.Join(v.Names(), ",")+"]")
		}
	}
	need := series.View{Mask: e.Need, Dims: e.Need.Dims()}
	return fmt.Sprintf("no view holds [%s] for %s; views: %s", strings.Join(need.Names(), ","), e.Metric, strings.Join(names, " "))
}

// ErrRange is wrapped by the Error (reason bad_range) of an empty or inverted time range
// or a bad step.
var ErrRange = errors.New("bad time range or step")

func rangeError(format string, a ...any) error {
	return &Error{Reason: BadRange, Msg: fmt.Sprintf(format, a...), Err: ErrRange}
}

// MaxPoints bounds the points of one query's group, to keep a query's work bounded.
const MaxPoints = 20000

// ViewFor returns the view a request would be answered from.
func (e *Engine) ViewFor(m series.Metric, match *[series.NumDims]func(string) bool, by []series.Dim) (series.View, error) {
	var need series.Mask
	for d := series.Dim(0); d < series.NumDims; d++ {
		if match[d] != nil {
			need |= 1 << d
		}
	}
	for _, d := range by {
		need |= 1 << d
	}
	if m.IsProbe() {
		need |= 1 << series.Probe
	}
	v, ok := series.Choose(e.opts.Views, m, need)
	if !ok {
		nv := &NoViewError{Metric: m, Need: need, Views: e.opts.Views}
		return series.View{}, &Error{Reason: NoView, Msg: nv.Error(), Err: nv}
	}
	return v, nil
}

// Query answers one request.
func (e *Engine) Query(ctx context.Context, req Request) (*Result, error) {
	from, to := floor(req.From, 60), ceil(req.To, 60)
	if from >= to || from < 0 {
		return nil, rangeError("from %d must be before to %d", req.From, req.To)
	}
	step := req.Step
	if step == 0 {
		step = to - from
	}
	if step < 60 || (req.Step != 0 && step%60 != 0) {
		return nil, rangeError("step %d s must be a positive multiple of 60", req.Step)
	}
	base := from
	if req.Step != 0 {
		base = floor(from, step)
	}
	if (to-base)/step > MaxPoints {
		return nil, rangeError("%d points per series is more than %d; use a larger step", (to-base)/step, MaxPoints)
	}
	view, err := e.ViewFor(req.Metric, &req.Match, req.By)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	acc := newAccumulator(view, &req, base, step)

	// Memory first: it tells where storage ends.
	memFrom := e.live.Collect(view.Mask, req.Metric, from, to, func(start int64, l *series.Labels, c *sketch.Counts) {
		if g := acc.groupOf(l); g != nil {
			c.AddTo(g.sketchAt(acc.stepOf(start)))
		}
	})
	hourDone, dayDone := e.store.Rolled()
	for _, seg := range plan(from, min(to, memFrom), base, step, min(hourDone, memFrom), min(dayDone, memFrom)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var l series.Labels
		err := e.store.Scan(seg.res, view.Mask, req.Metric, seg.from, seg.to, func(start int64, key, val []byte) error {
			g := acc.groupOfKey(key, &l)
			if g == nil {
				return nil
			}
			return g.merge(acc.stepOf(start), val)
		})
		if err != nil {
			return nil, err
		}
	}
	return acc.result(), nil
}

// segment is a time range read at one resolution.
type segment struct {
	res      storage.Res
	from, to int64
}

// plan covers [from, to) with segments: in each step, whole days before dayDone come from
// day rollups, whole hours before hourDone from hour rollups, and the rest from minutes.
// Adjacent segments of one resolution are joined so a long range is a few scans.
func plan(from, to, base, step, hourDone, dayDone int64) []segment {
	var out []segment
	emit := func(r storage.Res, a, b int64) {
		if a >= b {
			return
		}
		if n := len(out); n > 0 && out[n-1].res == r && out[n-1].to == a {
			out[n-1].to = b
			return
		}
		out = append(out, segment{r, a, b})
	}
	var cover func(r storage.Res, a, b int64)
	cover = func(r storage.Res, a, b int64) {
		if r == storage.Minute {
			emit(storage.Minute, a, b)
			return
		}
		size, done := int64(86400), dayDone
		if r == storage.Hour {
			size, done = 3600, hourDone
		}
		lo, hi := ceil(a, size), min(floor(b, size), floor(done, size))
		if lo >= hi {
			cover(r-1, a, b)
			return
		}
		cover(r-1, a, lo)
		emit(r, lo, hi)
		cover(r-1, hi, b)
	}
	for s := base; s < to; s += step {
		cover(storage.Day, max(s, from), min(s+step, to))
	}
	return out
}

// accumulator merges sketches per group and step.
type accumulator struct {
	view   series.View
	req    *Request
	base   int64
	step   int64
	groups map[string]*group
	byKey  map[string]*group // series key → its group; nil entry = filtered out
	buf    []byte
}

type group struct {
	labels series.Labels
	steps  map[int64]*ddsketch.DDSketch
}

func newAccumulator(v series.View, req *Request, base, step int64) *accumulator {
	return &accumulator{view: v, req: req, base: base, step: step, groups: map[string]*group{}, byKey: map[string]*group{}}
}

func (a *accumulator) stepOf(start int64) int64 { return a.base + (start-a.base)/a.step*a.step }

// groupOf returns the group of a series' labels, or nil when the filters reject it.
func (a *accumulator) groupOf(l *series.Labels) *group {
	for _, d := range a.view.Dims {
		if m := a.req.Match[d]; m != nil && !m(l[d]) {
			return nil
		}
	}
	gl := l.Only(a.req.By)
	a.buf = series.AppendKey(a.buf[:0], series.View{Dims: a.req.By}, &gl)
	g := a.groups[string(a.buf)]
	if g == nil {
		g = &group{labels: gl, steps: map[int64]*ddsketch.DDSketch{}}
		a.groups[string(a.buf)] = g
	}
	return g
}

// groupOfKey is groupOf for a stored series key, remembering the answer per key.
func (a *accumulator) groupOfKey(key []byte, l *series.Labels) *group {
	if g, ok := a.byKey[string(key)]; ok {
		return g
	}
	var g *group
	if err := series.ParseKey(a.view, key, l); err == nil {
		g = a.groupOf(l)
	}
	a.byKey[string(key)] = g
	return g
}

func (g *group) sketchAt(t int64) *ddsketch.DDSketch {
	s := g.steps[t]
	if s == nil {
		s = sketch.New()
		g.steps[t] = s
	}
	return s
}

func (g *group) merge(t int64, encoded []byte) error {
	return sketch.MergeEncoded(g.sketchAt(t), encoded)
}

func (a *accumulator) result() *Result {
	keys := make([]string, 0, len(a.groups))
	for k := range a.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := &Result{View: a.view, Groups: make([]Group, 0, len(keys))}
	for _, k := range keys {
		g := a.groups[k]
		out := Group{Labels: g.labels}
		for t, s := range g.steps {
			if s.GetCount() > 0 {
				out.Points = append(out.Points, Point{T: t, Sketch: s})
			}
		}
		if len(out.Points) == 0 {
			continue
		}
		sort.Slice(out.Points, func(i, j int) bool { return out.Points[i].T < out.Points[j].T })
		res.Groups = append(res.Groups, out)
	}
	return res
}

// LabelValues lists the values of a dimension seen in [from, to), in storage or memory.
func (e *Engine) LabelValues(ctx context.Context, d series.Dim, from, to int64) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stored, err := e.store.LabelValues(d, from, to)
	if err != nil {
		return nil, err
	}
	seen := map[string]struct{}{}
	for _, v := range stored {
		seen[v] = struct{}{}
	}
	for _, v := range e.live.LabelValues(d) {
		seen[v] = struct{}{}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		if v != "" {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out, nil
}

func floor(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

func ceil(t, step int64) int64 { return -floor(-t, step) }
