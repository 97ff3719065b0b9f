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
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

// Store is what queries need of storage.
type Store interface {
	Scan(r storage.Res, view series.Mask, m series.Metric, from, to int64, fn func(start int64, seriesKey, sketch []byte) error) error
	ScanKeys(r storage.Res, view series.Mask, m series.Metric, from, to int64, fn func(start int64, seriesKey []byte) error) error
	Rolled() (hourDone, dayDone int64)
	LabelValues(ctx context.Context, d series.Dim, from, to int64) ([]string, error)
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
	// MaxBytes bounds the memory one request's queries may fill with sketches: CellBytes
	// per group and step merged, GroupBytes per group, and the bytes of every sketch read,
	// charged as they are read (docs/query.md#what-a-query-may-cost).
	MaxBytes int64
	// MaxPoints bounds the points (groups × steps × values) one request may answer,
	// counted before the sketches are read.
	MaxPoints int64
	// MaxConcurrent is how many expensive reads (Begin) run at once; QueueWait how long
	// one more waits for a slot before it is refused with reason overloaded.
	MaxConcurrent int
	QueueWait     time.Duration
}

// DefaultOptions returns the defaults: the default views, storage's default retention, a
// 30 s timeout, 64 MiB and 2,000,000 points per request, and one expensive read per two
// cores waiting at most 2 s for its turn.
func DefaultOptions() Options {
	return Options{
		Views:         series.DefaultViews(),
		Retention:     storage.DefaultOptions().Retention,
		Timeout:       30 * time.Second,
		MaxBytes:      64 << 20,
		MaxPoints:     2_000_000,
		MaxConcurrent: max(1, runtime.NumCPU()/2),
		QueueWait:     2 * time.Second,
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
	if o.MaxBytes < 1<<20 {
		return fmt.Errorf("query: max bytes must be at least 1 MiB, got %d", o.MaxBytes)
	}
	if o.MaxPoints < 1000 {
		return fmt.Errorf("query: max points must be at least 1000, got %d", o.MaxPoints)
	}
	if o.MaxConcurrent < 1 || o.MaxConcurrent > 1024 {
		return fmt.Errorf("query: max concurrent must be 1..1024, got %d", o.MaxConcurrent)
	}
	// A queue wait past the timeout is allowed: the deadline then ends the wait first.
	if o.QueueWait < 0 {
		return fmt.Errorf("query: queue wait must be ≥ 0, got %s", o.QueueWait)
	}
	return nil
}

// Engine runs queries.
type Engine struct {
	store Store
	live  Live
	opts  Options
	log   *slog.Logger
	m     *metrics
	slots chan struct{} // one token per running expensive read (Begin)
}

// New builds an engine over a store and the live windows; a nil logger discards, a nil
// registerer registers nothing.
func New(logger *slog.Logger, reg prometheus.Registerer, store Store, live Live, opts Options) (*Engine, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if store == nil || live == nil {
		return nil, errors.New("query: a store and the live windows are needed")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: store, live: live, opts: opts, log: logger, m: newMetrics(reg), slots: make(chan struct{}, opts.MaxConcurrent)}, nil
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
	// Values is how many values the front-end answers per group and step (Graphite's
	// statistics), for the point budget; 0 counts as 1.
	Values int
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
	acc := newAccumulator(ctx, e.budgetFor(ctx), view, &req, base, step, (to-base+step-1)/step)

	// Memory first: it tells where storage ends. The aggregator's shard locks are held
	// while this runs, so once the budget or the deadline is spent the rest is skipped.
	memFrom := e.live.Collect(view.Mask, req.Metric, from, to, func(start int64, l *series.Labels, c *sketch.Counts) {
		if acc.err != nil || acc.tick() != nil {
			return
		}
		g := acc.groupOf(l)
		if g == nil {
			return
		}
		if acc.err = acc.budget.Bytes(int64(c.MemBytes())); acc.err != nil {
			return
		}
		if s := g.sketchAt(acc, acc.stepOf(start)); s != nil {
			c.AddTo(s)
		}
	})
	if acc.err != nil {
		return nil, acc.err
	}
	hourDone, dayDone := e.store.Rolled()
	segs := plan(from, min(to, memFrom), base, step, min(hourDone, memFrom), min(dayDone, memFrom))
	// A grouped query first counts its groups from the keys alone, so that one whose
	// answer would be too large is refused before a single sketch is decoded.
	if len(req.By) > 0 {
		for _, seg := range segs {
			var l series.Labels
			err := e.store.ScanKeys(seg.res, view.Mask, req.Metric, seg.from, seg.to, func(start int64, key []byte) error {
				if err := acc.tick(); err != nil {
					return err
				}
				acc.groupOfKey(key, &l)
				return acc.err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	for _, seg := range segs {
		var l series.Labels
		err := e.store.Scan(seg.res, view.Mask, req.Metric, seg.from, seg.to, func(start int64, key, val []byte) error {
			if err := acc.tick(); err != nil {
				return err
			}
			g := acc.groupOfKey(key, &l)
			if g == nil {
				return acc.err
			}
			if err := acc.budget.Bytes(int64(len(val))); err != nil {
				return err
			}
			s := g.sketchAt(acc, acc.stepOf(start))
			if s == nil {
				return acc.err
			}
			return sketch.MergeEncoded(s, val)
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

// accumulator merges sketches per group and step, charging what it holds to the
// request's budget before it allocates it.
type accumulator struct {
	ctx    context.Context
	budget *Budget
	view   series.View
	req    *Request
	base   int64
	step   int64
	points int64 // points one group answers: steps × values
	groups map[string]*group
	byKey  map[string]*group // series key → its group; nil entry = filtered out
	buf    []byte
	n      int   // sketches seen, for tick
	err    error // the first refusal, which ends the query
}

type group struct {
	labels series.Labels
	steps  map[int64]*ddsketch.DDSketch
}

// maxKeyMemo bounds the series keys whose group is remembered: past it a key is parsed
// again each time it is met, so a flood of series costs time, not memory.
const maxKeyMemo = 1 << 16

func newAccumulator(ctx context.Context, b *Budget, v series.View, req *Request, base, step, steps int64) *accumulator {
	return &accumulator{ctx: ctx, budget: b, view: v, req: req, base: base, step: step, points: steps * int64(max(1, req.Values)),
		groups: map[string]*group{}, byKey: map[string]*group{}}
}

// tick looks at the deadline every ctxEvery sketches.
func (a *accumulator) tick() error {
	if a.n++; a.n%ctxEvery == 0 && a.err == nil {
		a.err = a.ctx.Err()
	}
	return a.err
}

func (a *accumulator) stepOf(start int64) int64 { return a.base + (start-a.base)/a.step*a.step }

// groupOf returns the group of a series' labels, or nil when the filters reject it or
// the budget cannot take one more group (a.err says which).
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
		if a.err = a.budget.Points(a.points); a.err != nil {
			return nil
		}
		if a.err = a.budget.Bytes(GroupBytes + int64(len(a.buf))); a.err != nil {
			return nil
		}
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
	if a.err == nil && len(a.byKey) < maxKeyMemo {
		a.byKey[string(key)] = g
	}
	return g
}

// sketchAt returns the group's sketch of step t, made (and charged) on first use; nil
// when the budget cannot take it (a.err says so).
func (g *group) sketchAt(a *accumulator, t int64) *ddsketch.DDSketch {
	s := g.steps[t]
	if s == nil {
		if a.err = a.budget.Bytes(CellBytes); a.err != nil {
			return nil
		}
		s = sketch.New()
		g.steps[t] = s
	}
	return s
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
	stored, err := e.store.LabelValues(ctx, d, from, to)
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
