package aggregator

import (
	"sort"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

func (a *Aggregator) flushLoop() {
	defer a.flusher.Done()
	t := time.NewTicker(a.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			closeBefore := floor(a.opts.Now().Add(-a.opts.Grace).Unix(), 60)
			// A failure is logged by hold, once per run of failures, not every tick.
			_ = a.flush(closeBefore)
		}
	}
}

// flush closes every window that starts before closeBefore and writes all closed windows to
// storage, oldest first. A window whose write fails stays pending and is retried.
func (a *Aggregator) flush(closeBefore int64) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.detach(closeBefore)
	for {
		a.viewMu.RLock()
		var pieces []*window
		if len(a.pending) > 0 {
			start := a.pending[0].start
			for _, w := range a.pending {
				if w.start == start {
					pieces = append(pieces, w)
				}
			}
		}
		a.viewMu.RUnlock()
		if len(pieces) == 0 {
			a.recovered()
			return nil
		}
		t0 := time.Now()
		sw, sketches := a.merge(pieces)
		if err := a.store.WriteWindow(sw); err != nil {
			a.m.flushErrors.Inc()
			a.hold(err)
			return err
		}
		if a.refusing.Load() { // a store on every flush would bounce Add's cache line
			a.refusing.Store(false)
		}
		a.viewMu.Lock()
		a.pending = a.pending[len(pieces):]
		a.viewMu.Unlock()
		a.cardMu.Lock()
		delete(a.cards, sw.Start)
		a.cardMu.Unlock()
		a.m.liveSketches.Sub(float64(sketches))
		a.m.flushed.Inc()
		a.m.flushDuration.Observe(time.Since(t0).Seconds())
	}
}

// hold notes a failed write: the closed windows stay in memory, and once they reach
// HoldBytes new records are refused. It logs when a run of failures begins and when the
// bound is reached, not at every retry. It runs under flushMu.
func (a *Aggregator) hold(err error) {
	windows, records, bytes := a.Held()
	if a.failingSince.IsZero() {
		a.failingSince = a.opts.Now()
		a.log.Error("storage refuses windows; closed windows are held in memory and retried",
			"err", err, "held_windows", windows, "held_beacons", records, "held_bytes", bytes, "hold_bytes", a.opts.HoldBytes)
	}
	if bytes >= a.opts.HoldBytes && !a.refusing.Load() {
		a.refusing.Store(true)
		a.log.Error("windows held in memory reached their bound; beacons are refused with storage_full until storage takes windows again",
			"held_windows", windows, "held_beacons", records, "held_bytes", bytes, "hold_bytes", a.opts.HoldBytes)
	}
}

// recovered ends a run of failed writes once every held window is written, and logs it.
// It runs under flushMu.
func (a *Aggregator) recovered() {
	if a.failingSince.IsZero() {
		return
	}
	a.log.Info("storage takes windows again; every held window is written",
		"failing_for", a.opts.Now().Sub(a.failingSince).String())
	a.failingSince = time.Time{}
}

// detach moves the windows before closeBefore from the shards to pending, in order.
func (a *Aggregator) detach(closeBefore int64) {
	a.viewMu.Lock()
	defer a.viewMu.Unlock()
	// Raised before the shards are locked: a worker that reads the old value holds its
	// shard lock, so its record lands in a window that is detached after it.
	if closeBefore > a.minOpen.Load() {
		a.minOpen.Store(closeBefore)
	}
	var moved []*window
	for _, sh := range a.shards {
		sh.mu.Lock()
		for start, w := range sh.windows {
			if start < closeBefore {
				moved = append(moved, w)
				delete(sh.windows, start)
			}
		}
		sh.mu.Unlock()
	}
	derived := 0
	for _, w := range moved {
		derived += a.deriveAll(w)
		w.bytes = memBytes(w)
	}
	a.m.liveSketches.Add(float64(derived))
	a.totals.fold(a.views, moved, closeBefore)
	a.pending = append(a.pending, moved...)
	sort.SliceStable(a.pending, func(i, j int) bool { return a.pending[i].start < a.pending[j].start })
}

// merge folds the shard pieces of one window into a storage window. It returns the number
// of live sketches the pieces held.
func (a *Aggregator) merge(pieces []*window) (*storage.Window, int) {
	sw := &storage.Window{Start: pieces[0].start}
	live := 0
	var values [series.NumDims]map[string]struct{}
	for d := range values {
		values[d] = map[string]struct{}{}
	}
	for vi, v := range a.views {
		merged := map[string]*entry{}
		var keys []string
		for _, w := range pieces {
			for k, e := range w.views[vi] {
				live += countSketches(e)
				// Pieces stay untouched: a failed write is retried from them.
				m := merged[k]
				if m == nil {
					m = &entry{labels: e.labels, sk: make([]sketch.Counts, len(e.sk))}
					merged[k] = m
					keys = append(keys, k)
				}
				for i := range e.sk {
					m.sk[i].Merge(&e.sk[i])
				}
			}
		}
		sort.Strings(keys)
		first := v.ForProbes()
		for _, k := range keys {
			e := merged[k]
			for _, d := range v.Dims {
				values[d][e.labels[d]] = struct{}{}
			}
			for i := range e.sk {
				if e.sk[i].Empty() {
					continue
				}
				m := series.Metric(i)
				if first {
					m += series.ProbeDNS
				}
				sw.Entries = append(sw.Entries, storage.Entry{View: v.Mask, Metric: m, Series: []byte(k), Sketch: e.sk[i].Sketch()})
			}
		}
	}
	for d := range values {
		for v := range values[d] {
			sw.Values[d] = append(sw.Values[d], v)
		}
		sort.Strings(sw.Values[d])
	}
	return sw, live
}

func countSketches(e *entry) int {
	n := 0
	for i := range e.sk {
		if !e.sk[i].Empty() {
			n++
		}
	}
	return n
}

// entryBytes estimates what one series of a window holds besides its Counts: the map slot,
// the entry with its labels, and the key.
const entryBytes = 200

// memBytes estimates the memory of a detached window piece from its live sketches.
func memBytes(w *window) int64 {
	n := int64(0)
	for _, v := range w.views {
		for k, e := range v {
			n += int64(entryBytes + len(k))
			for i := range e.sk {
				n += int64(e.sk[i].MemBytes())
			}
		}
	}
	return n
}
