package storage

import (
	"context"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"rumd/internal/series"
)

// Scan calls fn for every stored sketch of (res, view, metric) whose bucket starts in
// [from, to), in time order within each partition. The byte slices are valid only during
// the call.
func (db *DB) Scan(r Res, view series.Mask, m series.Metric, from, to int64, fn func(start int64, seriesKey, sketch []byte) error) error {
	return db.scan(r, view, m, from, to, true, fn)
}

// ScanKeys is Scan without the sketches: it reads only keys, so a query can count the
// series it would merge before it merges any.
func (db *DB) ScanKeys(r Res, view series.Mask, m series.Metric, from, to int64, fn func(start int64, seriesKey []byte) error) error {
	return db.scan(r, view, m, from, to, false, func(start int64, k, _ []byte) error { return fn(start, k) })
}

func (db *DB) scan(r Res, view series.Mask, m series.Metric, from, to int64, values bool, fn func(start int64, seriesKey, sketch []byte) error) error {
	if from >= to {
		return nil
	}
	if from < 0 {
		from = 0
	}
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for part := partitionOf(r, from); int64(part)*partSeconds[r] < to; part++ {
			first := keyOf(r, view, m, max(from, int64(part)*partSeconds[r]), nil)
			prefix, seek := first.appendComboPrefix(nil), first.appendStartPrefix(nil)
			for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
				item := it.Item()
				k, err := parseSketchKey(item.Key())
				if err != nil {
					return err
				}
				if k.start >= to {
					break
				}
				if !values {
					err = fn(k.start, k.series, nil)
				} else {
					err = item.Value(func(v []byte) error { return fn(k.start, k.series, v) })
				}
				if err != nil {
					return fmt.Errorf("scan %s %s: %w", r, m, err)
				}
			}
		}
		return nil
	})
}

// LabelValues lists, sorted, the values of dimension d seen on the days overlapping
// [from, to). It stops with ctx's error once ctx ends: a week of a cardinality flood's
// index is long to read.
func (db *DB) LabelValues(ctx context.Context, d series.Dim, from, to int64) ([]string, error) {
	seen := map[string]struct{}{}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		n := 0
		for day := max(from, 0) / 86400; day*86400 < to; day++ {
			prefix := appendIndexKey(nil, day, d, "")
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				if n++; n%1024 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				seen[string(it.Item().Key()[len(prefix):])] = struct{}{}
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read label index: %w", err)
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}
