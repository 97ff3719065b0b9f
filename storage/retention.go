package storage

import (
	"time"

	"github.com/dgraph-io/badger/v4"
)

// retain drops every partition that lies wholly before its resolution's retention, as of
// now (the end of the newest window: storage's clock is the data's, which keeps retention
// testable). Dropping by prefix removes whole tables and compacts the rest, so disk use
// really falls; Badger's TTL would leave expired data on disk until compaction reached it.
func (db *DB) retain(now int64) error {
	for r := Res(0); r < NumRes; r++ {
		cutoff := now - int64(db.opts.Retention[r]/time.Second)
		for {
			part, ok, err := db.oldestPartition(r)
			if err != nil || !ok {
				return err
			}
			if int64(part+1)*partSeconds[r] > cutoff {
				break
			}
			if err := db.bdb.DropPrefix(appendPartPrefix(nil, r.code(), part)); err != nil {
				return err
			}
			db.m.dropped.WithLabelValues(r.String()).Inc()
			db.log.Info("retention dropped partition", "resolution", r.String(),
				"from", unix(int64(part)*partSeconds[r]), "to", unix(int64(part+1)*partSeconds[r]))
		}
	}
	// The label index follows the longest retention.
	cutoffDay := (now - int64(db.opts.Retention[Day]/time.Second)) / 86400
	for {
		day, ok, err := db.oldestIndexDay()
		if err != nil || !ok || day >= cutoffDay {
			return err
		}
		if err := db.bdb.DropPrefix(appendIndexDayPrefix(nil, day)); err != nil {
			return err
		}
	}
}

func (db *DB) oldestPartition(r Res) (part uint32, ok bool, err error) {
	prefix := []byte{kindSketch, r.code()}
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Seek(prefix)
		if !it.ValidForPrefix(prefix) {
			return nil
		}
		k, err := parseSketchKey(it.Item().Key())
		if err != nil {
			return err
		}
		part, ok = k.part, true
		return nil
	})
	return part, ok, err
}

func (db *DB) oldestIndexDay() (day int64, ok bool, err error) {
	prefix := []byte{kindIndex}
	err = db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Seek(prefix)
		if !it.ValidForPrefix(prefix) {
			return nil
		}
		d, _, _, err := parseIndexKey(it.Item().Key())
		if err != nil {
			return err
		}
		day, ok = d, true
		return nil
	})
	return day, ok, err
}
