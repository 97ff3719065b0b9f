package storage

import (
	"fmt"
	"iter"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/dgraph-io/badger/v4"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// Entry is one sketch of a closed window: a (view, metric, series) triple.
type Entry struct {
	View   series.Mask
	Metric series.Metric
	Series []byte // series.AppendKey of the labels in the view
	Sketch *ddsketch.DDSketch
}

// Window is one closed 1-minute window as the aggregator hands it over.
type Window struct {
	Start   int64 // unix seconds, a multiple of 60
	Entries []Entry
	// Stream, when set, yields more entries after Entries, one at a time: the aggregator
	// merges and converts each series only when it is written, so a window is never held
	// twice. A yielded Entry (its Series and Sketch) is valid only until the next one; a
	// Stream may be walked again when a failed write is retried.
	Stream iter.Seq[*Entry]
	// Values lists, per dimension, the label values seen in the window (for the index).
	Values [series.NumDims][]string
}

// WriteWindow stores a closed window, then merges any hour and day it completes into their
// rollups and applies retention. Windows must be written in increasing Start order; a
// window at or before one already written is refused, so a minute is never counted twice.
//
// A large window goes to Badger in several transactions (a write batch commits one each
// time it fills), in order, with the flushed marker last: once the marker is on disk the
// whole window is. A write that fails part way leaves the marker where it was, and the
// window is written again whole; every key holds the window's complete sketch of its
// series, never an increment, so writing some keys twice stores the same values and counts
// nothing twice. A crash part way leaves some series of a window that was never marked
// (kill -9 loses at most that window's other series, as it loses the open window).
func (db *DB) WriteWindow(w *Window) error {
	if w.Start%60 != 0 {
		return fmt.Errorf("window start %d is not on a minute", w.Start)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if f := db.flushed.Load(); w.Start < f {
		return fmt.Errorf("window %s is before the last written one (%s)", unix(w.Start), unix(f-60))
	}
	t0 := time.Now()
	// The room is checked before Badger sees the first byte and again after every
	// roomCheckBytes written, counting what this window has written so far: a window is
	// streamed, so its size is known only as it goes. A window refused part way keeps the
	// flushed marker where it was and is written again whole, as any failed write.
	if err := db.room(0); err != nil {
		return fmt.Errorf("write window %s: %w", unix(w.Start), err)
	}
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	var key, val []byte
	written := 0
	need, checked := int64(0), int64(0)
	for e := range w.entries() {
		k := keyOf(Minute, e.View, e.Metric, w.Start, e.Series)
		key = k.append(key[:0])
		val = sketch.AppendEncoded(val[:0], e.Sketch)
		need += int64(len(key) + len(val) + walEntryOverhead)
		if need-checked >= roomCheckBytes {
			if err := db.room(need); err != nil {
				return fmt.Errorf("write window %s: %w", unix(w.Start), err)
			}
			checked = need
		}
		if err := wb.Set(append([]byte(nil), key...), append([]byte(nil), val...)); err != nil {
			return fmt.Errorf("write window %s: %w", unix(w.Start), db.failed(err))
		}
		written++
	}
	if err := db.room(need); err != nil {
		return fmt.Errorf("write window %s: %w", unix(w.Start), err)
	}
	indexed, err := db.indexValues(wb, w.Start, &w.Values)
	if err != nil {
		return db.failed(err)
	}
	end := w.Start + 60
	if err := setMeta(wb, metaFlushed, end); err != nil {
		return err
	}
	if db.hourDone.Load() == 0 {
		db.hourDone.Store(floor(w.Start, 3600))
		db.dayDone.Store(floor(w.Start, 86400))
		if err := setMeta(wb, metaHourDone, db.hourDone.Load()); err != nil {
			return err
		}
		if err := setMeta(wb, metaDayDone, db.dayDone.Load()); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write window %s: %w", unix(w.Start), db.failed(err))
	}
	db.markIndexed(indexed)
	db.full.Store(false)
	db.flushed.Store(end)
	db.m.written.Add(float64(written))
	db.m.flushDuration.Observe(time.Since(t0).Seconds())
	// The window is safe on disk; a failed rollup or retention pass is logged and simply
	// runs again after the next window, since its watermark did not move. Neither runs
	// while less than the reserve is free: both write (retention too, as Badger flushes its
	// memtable before dropping a prefix).
	if db.room(0) != nil {
		return nil
	}
	if err := db.rollUp(end); err != nil {
		db.m.maintErrors.Inc()
		db.log.Error("rollup failed; retried after the next window", "err", err)
	}
	if err := db.retain(end); err != nil {
		db.m.maintErrors.Inc()
		db.log.Error("retention failed; retried after the next window", "err", err)
	}
	return nil
}

// walEntryOverhead bounds what Badger's WAL adds to each key and value (header, checksum).
const walEntryOverhead = 32

// roomCheckBytes is how much of a window is written between two reads of the free space:
// small beside the reserve (six memtables), large enough that statfs costs nothing.
const roomCheckBytes = 1 << 20

// entries yields Entries, then what Stream yields.
func (w *Window) entries() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for i := range w.Entries {
			if !yield(&w.Entries[i]) {
				return
			}
		}
		if w.Stream != nil {
			w.Stream(yield)
		}
	}
}

// indexValues records the label values of a window under its day, once per day and value.
// It returns the keys it added; they count as seen only once the batch holding them is
// flushed (markIndexed), so a window whose write failed indexes them again on its retry.
func (db *DB) indexValues(wb *badger.WriteBatch, start int64, values *[series.NumDims][]string) ([]string, error) {
	day := start / 86400
	if day != db.indexDay {
		db.indexDay, db.indexSeen = day, map[string]struct{}{}
	}
	var added []string
	for d := series.Dim(0); d < series.NumDims; d++ {
		for _, v := range values[d] {
			k := appendIndexKey(nil, day, d, v)
			if _, ok := db.indexSeen[string(k)]; ok {
				continue
			}
			if err := wb.Set(k, nil); err != nil {
				return nil, fmt.Errorf("write label index: %w", err)
			}
			added = append(added, string(k))
		}
	}
	return added, nil
}

// markIndexed notes index keys a flushed batch wrote, so later windows of the day skip them.
func (db *DB) markIndexed(keys []string) {
	for _, k := range keys {
		db.indexSeen[k] = struct{}{}
	}
}

func floor(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

func unix(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }
