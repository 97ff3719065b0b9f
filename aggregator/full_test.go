package aggregator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/internal/testutil"
	"rumd/storage"
)

// TestFullDiskHoldsWindowsThenRefuses runs the aggregator on a real store on a 16 MiB
// tmpfs and fills it: the closed window is held in memory and still answers queries,
// records are refused with ErrStorageFull once the held windows reach HoldBytes, every
// held window is written in order once space is freed, and a Close while the disk is full
// returns at once, saying how many windows and beacons it could not write.
func TestFullDiskHoldsWindowsThenRefuses(t *testing.T) {
	dir := testutil.MustTmpfs(t, 16<<20)
	filler := filepath.Join(dir, "filler")
	so := storage.DefaultOptions()
	so.MemTableBytes = 1 << 20 // a 6 MiB reserve
	db, err := storage.Open(filepath.Join(dir, "data"), nil, nil, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	base := int64(1763683200)
	c := newClock(base)
	// Any held window reaches a 1-byte bound: refusals start at the first failed write.
	a := mustOpen(t, db, c, func(o *Options) { o.HoldBytes = 1 })
	add := func(minute int64, n int) error {
		for i := 0; i < n; i++ {
			r := rec(base+minute*60+1, "/", "DE", 100)
			if err := a.Add(&r); err != nil {
				return err
			}
		}
		waitApplied(t, a, int64(50*minute+int64(n)))
		return nil
	}
	if err := add(0, 50); err != nil {
		t.Fatal(err)
	}
	if err := a.flush(base + 60); err != nil {
		t.Fatal(err)
	}

	testutil.MustFill(t, filler, 3<<20) // half the reserve left
	if err := add(1, 50); err != nil {
		t.Fatalf("before any write failed: %v", err)
	}
	c.set(base + 125)
	if err := a.flush(base + 120); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("flush on a full disk: %v, want storage.ErrFull", err)
	}
	if w, recs, bytes := a.Held(); w != 1 || recs != 50 || bytes <= 0 {
		t.Fatalf("held %d windows, %d records, %d bytes; want 1, 50, > 0", w, recs, bytes)
	}
	r := rec(base+121, "/", "DE", 100)
	if err := a.Add(&r); !errors.Is(err, ErrStorageFull) || !a.Refusing() {
		t.Fatalf("add with the held windows at their bound: %v (refusing %v), want ErrStorageFull", err, a.Refusing())
	}
	if got := counts(t, a, db, series.NewView(), base, base+3600)[""]; got != 100 {
		t.Fatalf("while the disk is full, queries see %v of 100", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := a.flush(base + 120); err != nil {
		t.Fatalf("flush once space is back: %v", err)
	}
	if w, _, _ := a.Held(); w != 0 || a.Refusing() || db.Flushed() != base+120 {
		t.Fatalf("after recovery: %d held, refusing %v, flushed until +%d", w, a.Refusing(), db.Flushed()-base)
	}
	if err := add(2, 10); err != nil {
		t.Fatalf("add after recovery: %v", err)
	}
	if got := counts(t, a, db, series.NewView(), base, base+120)[""]; got != 100 {
		t.Fatalf("stored %v of 100", got)
	}

	testutil.MustFill(t, filler, 3<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = a.Close(ctx)
	if !errors.Is(err, storage.ErrFull) || !strings.Contains(err.Error(), "1 closed windows holding 10 beacons") {
		t.Fatalf("close on a full disk: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("close on a full disk waited for its deadline")
	}
}
