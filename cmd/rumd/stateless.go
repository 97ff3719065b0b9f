package main

import (
	"context"
	"sync/atomic"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/query"
	"rumd/storage"
)

// sketchStore is what serve needs of the store behind the aggregator and the query engine:
// Badger, or nothing on a stateless node.
type sketchStore interface {
	aggregator.Store
	query.Store
	Close(context.Context) error
}

var (
	_ sketchStore = (*storage.DB)(nil)
	_ sketchStore = (*noStorage)(nil)
)

// noStorage is the store of `rumd serve --storage none`: a closed window is let go once
// its counts are in the Prometheus totals, and nothing is ever read back, so the query and
// Graphite APIs answer from the windows still in memory (the open minute and the one in
// its grace period) and find nothing older (docs/scaling-out.md).
type noStorage struct{ flushed atomic.Int64 }

// WriteWindow lets the window go.
func (n *noStorage) WriteWindow(w *storage.Window) error {
	n.flushed.Store(max(n.flushed.Load(), w.Start+60))
	return nil
}

// Flushed is the end of the last window let go.
func (n *noStorage) Flushed() int64 { return n.flushed.Load() }

// Scan finds nothing.
func (*noStorage) Scan(storage.Res, series.Mask, series.Metric, int64, int64, func(int64, []byte, []byte) error) error {
	return nil
}

// ScanKeys finds nothing.
func (*noStorage) ScanKeys(storage.Res, series.Mask, series.Metric, int64, int64, func(int64, []byte) error) error {
	return nil
}

// Rolled reports no rollups.
func (*noStorage) Rolled() (hourDone, dayDone int64) { return 0, 0 }

// LabelValues knows no stored values.
func (*noStorage) LabelValues(context.Context, series.Dim, int64, int64) ([]string, error) {
	return nil, nil
}

// Close has nothing to close.
func (*noStorage) Close(context.Context) error { return nil }
