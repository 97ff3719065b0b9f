package query

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The bounds of one read request (docs/query.md#what-a-query-may-cost): a budget of
// memory and points charged as the request reads, and a slot among a few that expensive
// reads share, so that a flood of wide queries is refused before it costs ingest its CPU
// and rumd its memory.

// CellBytes is what one merged sketch of one group and step costs in memory before any
// bucket is merged into it: a DDSketch with its two paginated stores, measured at about
// 290 bytes (TestCellBytesCoversAnEmptySketch keeps it honest).
const CellBytes = 320

// GroupBytes is what one group of a query's answer costs before its sketches: its labels,
// its map entries and its key.
const GroupBytes = 256

// Budget is one request's allowance: bytes of sketches fetched and merged, and points
// answered, charged as they are read, by the engine and by the front-end that shapes the
// answer. It belongs to one request and is used by one goroutine at a time.
type Budget struct {
	maxBytes, maxPoints int64
	bytes, points       int64
}

// NewBudget returns a budget of maxBytes and maxPoints; a bound of 0 or less is no bound.
func NewBudget(maxBytes, maxPoints int64) *Budget {
	return &Budget{maxBytes: maxBytes, maxPoints: maxPoints}
}

// Bytes charges n bytes; past the bound it answers a too_much_data Error.
func (b *Budget) Bytes(n int64) error {
	b.bytes += n
	if b.maxBytes > 0 && b.bytes > b.maxBytes {
		return &Error{Reason: TooMuchData, Msg: fmt.Sprintf("the query would hold more than %d MiB of sketches; narrow the range, the filters or the group-by (fewer wildcards), or raise query.max_bytes", b.maxBytes>>20)}
	}
	return nil
}

// Points charges n points; past the bound it answers a too_many_points Error.
func (b *Budget) Points(n int64) error {
	b.points += n
	if b.maxPoints > 0 && b.points > b.maxPoints {
		return &Error{Reason: TooManyPoints, Msg: fmt.Sprintf("the answer would hold more than %d points; narrow the paths (fewer wildcards), the filters or the range, or lower maxDataPoints", b.maxPoints)}
	}
	return nil
}

// Used is what was charged so far.
func (b *Budget) Used() (bytes, points int64) { return b.bytes, b.points }

type budgetKey struct{}

// BudgetOf is the budget of the request ctx belongs to (set by Engine.Begin); nil when
// the request has none.
func BudgetOf(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// budgetFor is the budget a query charges: its request's, or one of its own.
func (e *Engine) budgetFor(ctx context.Context) *Budget {
	if b := BudgetOf(ctx); b != nil {
		return b
	}
	return NewBudget(e.opts.MaxBytes, e.opts.MaxPoints)
}

// Begin starts one expensive read request (render, find, series, summary, compare, the
// native-histogram exposition): it waits up to Options.QueueWait for one of
// Options.MaxConcurrent slots, then bounds the request by Options.Timeout, counted from
// the call so the wait is part of it, and gives it a fresh Budget. The returned done frees
// the slot and must be called. A request that gets no slot is refused with reason
// overloaded and a Retry-After; one whose client left while it waited, canceled.
func (e *Engine) Begin(ctx context.Context) (context.Context, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	select {
	case e.slots <- struct{}{}:
	default:
		wait := time.NewTimer(e.opts.QueueWait)
		defer wait.Stop()
		select {
		case e.slots <- struct{}{}:
		case <-wait.C:
			cancel()
			return nil, nil, &Error{Reason: Overloaded, RetryAfter: e.opts.QueueWait,
				Msg: fmt.Sprintf("%d expensive reads are running and none ended within %s; retry later", cap(e.slots), e.opts.QueueWait)}
		case <-ctx.Done():
			cancel()
			return nil, nil, ctx.Err()
		}
	}
	e.m.inFlight.Inc()
	ctx = context.WithValue(ctx, budgetKey{}, NewBudget(e.opts.MaxBytes, e.opts.MaxPoints))
	return ctx, func() {
		cancel()
		e.m.inFlight.Dec()
		<-e.slots
	}, nil
}

type metrics struct {
	inFlight prometheus.Gauge
	errors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rumd_query_in_flight", Help: "Expensive read requests holding one of the query.max_concurrent slots.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_query_errors_total", Help: "Query and Graphite requests refused or failed, by reason (docs/query.md).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.inFlight, m.errors)
	}
	return m
}

// ctxEvery is how many stored sketches a scan reads between two looks at its deadline: a
// look costs a lock, a sketch far less.
const ctxEvery = 256
