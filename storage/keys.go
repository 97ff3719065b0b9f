package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"rumd/internal/series"
)

// Key layout. Sketches sort by resolution, time partition, view, metric, window start and
// series, so a range query is one seek per partition and retention drops a partition by its
// prefix:
//
//	sketch: 0x01 | res | partition u32 | view mask | metric | start u32 | series key
//	index:  0x02 | day u32 | dim | value            (a label value seen that day)
//	meta:   0x00 | name
const (
	kindMeta   byte = 0x00
	kindSketch byte = 0x01
	kindIndex  byte = 0x02
)

const (
	metaFlushed  = "flushed"
	metaHourDone = "hour_done"
	metaDayDone  = "day_done"
)

const sketchHeader = 1 + 1 + 4 + 1 + 1 + 4

func partitionOf(r Res, t int64) uint32 { return uint32(t / partSeconds[r]) }

func appendPartPrefix(dst []byte, r Res, part uint32) []byte {
	dst = append(dst, kindSketch, byte(r))
	return binary.BigEndian.AppendUint32(dst, part)
}

func appendSeriesPrefix(dst []byte, r Res, part uint32, view series.Mask, m series.Metric) []byte {
	dst = appendPartPrefix(dst, r, part)
	return append(dst, byte(view), byte(m))
}

func appendSketchKey(dst []byte, r Res, view series.Mask, m series.Metric, start int64, key []byte) []byte {
	dst = appendSeriesPrefix(dst, r, partitionOf(r, start), view, m)
	dst = binary.BigEndian.AppendUint32(dst, uint32(start))
	return append(dst, key...)
}

type sketchKey struct {
	res    Res
	part   uint32
	view   series.Mask
	metric series.Metric
	start  int64
	series []byte
}

func parseSketchKey(k []byte) (sketchKey, error) {
	if len(k) < sketchHeader || k[0] != kindSketch {
		return sketchKey{}, fmt.Errorf("not a sketch key: %x", k)
	}
	return sketchKey{
		res:    Res(k[1]),
		part:   binary.BigEndian.Uint32(k[2:6]),
		view:   series.Mask(k[6]),
		metric: series.Metric(k[7]),
		start:  int64(binary.BigEndian.Uint32(k[8:12])),
		series: k[12:],
	}, nil
}

func appendIndexKey(dst []byte, day int64, d series.Dim, value string) []byte {
	dst = append(dst, kindIndex)
	dst = binary.BigEndian.AppendUint32(dst, uint32(day))
	dst = append(dst, byte(d))
	return append(dst, value...)
}

func metaKey(name string) []byte { return append([]byte{kindMeta}, name...) }

func (db *DB) getMeta(name string) (int64, error) {
	var v int64
	err := db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("meta %s has %d bytes", name, len(b))
			}
			v = int64(binary.BigEndian.Uint64(b))
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read meta %s: %w", name, err)
	}
	return v, nil
}

func setMeta(wb *badger.WriteBatch, name string, v int64) error {
	return wb.Set(metaKey(name), binary.BigEndian.AppendUint64(nil, uint64(v)))
}
