package query

import (
	"time"

	"rumd/storage"
)

// The step policy, shared by the JSON API and the Graphite API (docs/query.md): a range is
// answered at the finest resolution still kept for its start (a minute, else an hour once
// the minute retention has dropped it, else a day), coarsened until the range fits the
// point budget, and read over whole steps so that every point merges whole rollups.

// Resolution is the finest step, in seconds, still stored for data at t as of now: 60, or
// 3600 or 86400 once the finer resolutions' retention has dropped it.
func (e *Engine) Resolution(now time.Time, t int64) int64 {
	n := now.Unix()
	switch {
	case t < n-int64(e.opts.Retention[storage.Hour]/time.Second):
		return 86400
	case t < n-int64(e.opts.Retention[storage.Minute]/time.Second):
		return 3600
	}
	return 60
}

// Step picks the step of a series over [from, until). asked, when positive, is the step
// the caller asked for: it is kept unless the stored resolution is coarser, then it is
// rounded up to a multiple of that resolution. Otherwise the step is the finest that keeps
// the range within budget points (budget ≤ 0: no budget but MaxPoints), rounded up to
// whole minutes below an hour, whole hours below a day and whole days above. Either way a
// series never has more than MaxPoints points.
func (e *Engine) Step(now time.Time, from, until, asked int64, budget int) int64 {
	res := e.Resolution(now, from)
	span := until - from
	least := max(res, ceilDiv(span, MaxPoints))
	if asked > 0 {
		return ceil(max(asked, least), res)
	}
	raw := least
	if budget > 0 {
		raw = max(raw, ceilDiv(span, int64(budget)))
	}
	switch {
	case raw <= 3600:
		return ceil(raw, 60)
	case raw <= 86400:
		return ceil(raw, 3600)
	}
	return ceil(raw, 86400)
}

// Whole widens [from, until) to whole steps: from down and until up to a multiple of step,
// so that every point merges its whole step and a step older than the minute retention is
// read from whole rollups.
func Whole(from, until, step int64) (int64, int64) {
	return floor(from, step), ceil(until, step)
}

// Span widens [from, until) to whole units of the resolution still kept at from: the
// range of an answer of one point over the whole range.
func (e *Engine) Span(now time.Time, from, until int64) (int64, int64) {
	return Whole(from, until, e.Resolution(now, from))
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
