package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/dgraph-io/badger/v4"
	"rumd/internal/sketch"
)

// rollUp merges every hour that ends at or before flushed into its 1h sketches, and every
// day whose hours are all rolled into its 1d sketches. It runs under db.mu.
func (db *DB) rollUp(flushed int64) error {
	for h := db.hourDone.Load(); h+3600 <= flushed; h += 3600 {
		if err := db.mergePeriod(Minute, Hour, h); err != nil {
			return err
		}
		if err := db.storeMeta(metaHourDone, h+3600); err != nil {
			return err
		}
		db.hourDone.Store(h + 3600)
	}
	for d := db.dayDone.Load(); d+86400 <= db.hourDone.Load(); d += 86400 {
		if err := db.mergePeriod(Hour, Day, d); err != nil {
			return err
		}
		if err := db.storeMeta(metaDayDone, d+86400); err != nil {
			return err
		}
		db.dayDone.Store(d + 86400)
	}
	return nil
}

func (db *DB) storeMeta(name string, v int64) error {
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	if err := setMeta(wb, name, v); err != nil {
		return err
	}
	return wb.Flush()
}

// mergePeriod merges the src-resolution sketches of [start, start+dst.Seconds()) into one
// dst sketch per (view, metric, series). The period lies inside one src partition. It works
// on stored codes throughout, so it rolls up every sketch, known to this build or not.
func (db *DB) mergePeriod(src, dst Res, start int64) error {
	t0 := time.Now()
	end := start + dst.Seconds()
	part := partitionOf(src, start)
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	written := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		// Skip-scan the partition: one pass per (view, metric) present in it.
		prefix := appendPartPrefix(nil, src.code(), part)
		seek := append([]byte(nil), prefix...)
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Seek(seek) {
			k, err := parseSketchKey(it.Item().Key())
			if err != nil {
				return err
			}
			k.start, k.series = start, nil
			combo, from := k.appendComboPrefix(nil), k.appendStartPrefix(nil)
			merged := map[string]*ddsketch.DDSketch{}
			var order []string
			for it.Seek(from); it.ValidForPrefix(combo); it.Next() {
				item := it.Item()
				sk, err := parseSketchKey(item.Key())
				if err != nil {
					return err
				}
				if sk.start >= end {
					break
				}
				s := merged[string(sk.series)]
				if s == nil {
					s = sketch.New()
					merged[string(sk.series)] = s
					order = append(order, string(sk.series))
				}
				if err := item.Value(func(v []byte) error { return sketch.MergeEncoded(s, v) }); err != nil {
					return fmt.Errorf("roll up %s %s: %w", dst, unix(start), err)
				}
			}
			out := sketchKey{res: dst.code(), view: k.view, metric: k.metric, part: partitionOf(dst, start), start: start}
			for _, ser := range order {
				out.series = []byte(ser)
				if err := wb.Set(out.append(nil), sketch.AppendEncoded(nil, merged[ser])); err != nil {
					return err
				}
				written++
			}
			seek = nextCombo(combo)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("roll up %s at %s: %w", dst, unix(start), err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write %s rollup at %s: %w", dst, unix(start), err)
	}
	db.m.written.Add(float64(written))
	db.m.rollupDuration.WithLabelValues(dst.String()).Observe(time.Since(t0).Seconds())
	return nil
}

// nextCombo returns the smallest key after every key with the given (view, metric) prefix.
func nextCombo(prefix []byte) []byte {
	next := bytes.Clone(prefix)
	for i := len(next) - 1; i >= 0; i-- {
		next[i]++
		if next[i] != 0 {
			return next[:i+1]
		}
	}
	return append(prefix, 0xff)
}
