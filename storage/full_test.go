package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// smallOptions keeps Badger's files small enough for a tmpfs of a few MiB: 1 MiB memtables,
// so a 6 MiB reserve.
func smallOptions() Options {
	o := DefaultOptions()
	o.MemTableBytes = 1 << 20
	return o
}

// TestFullDiskRefusesWritesThenRecovers runs the store on a real 16 MiB tmpfs and fills it:
// a window write is refused with ErrFull (before Badger writes anything into its memory
// maps, where a full tmpfs faults), nothing is marked written, and once space is freed the
// same window is written and read back.
func TestFullDiskRefusesWritesThenRecovers(t *testing.T) {
	dir := testutil.MustTmpfs(t, 16<<20)
	data, filler := filepath.Join(dir, "data"), filepath.Join(dir, "filler")
	db := mustOpen(t, data, smallOptions())
	base := int64(1763683200)
	if err := db.WriteWindow(window(base, map[string][]float64{"/a": {100}})); err != nil {
		t.Fatal(err)
	}
	if db.Full() {
		t.Fatalf("full with %d bytes free, reserve %d", db.FreeBytes(), db.ReserveBytes())
	}
	testutil.MustFill(t, filler, 3<<20) // half the reserve left
	err := db.WriteWindow(window(base+60, map[string][]float64{"/a": {200}}))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("write with %d bytes free (reserve %d): %v, want ErrFull", db.FreeBytes(), db.ReserveBytes(), err)
	}
	if !db.Full() || db.Flushed() != base+60 {
		t.Fatalf("after a refused write: full %v, flushed until +%d", db.Full(), db.Flushed()-base)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteWindow(window(base+60, map[string][]float64{"/a": {200}})); err != nil {
		t.Fatalf("write once space is back: %v", err)
	}
	if db.Full() || db.Flushed() != base+120 {
		t.Fatalf("after recovery: full %v, flushed until +%d", db.Full(), db.Flushed()-base)
	}
	if got := collect(t, db, Minute, base, base+120); len(got) != 1 || got[string(window(base, map[string][]float64{"/a": nil}).Entries[0].Series)].GetCount() != 2 {
		t.Fatalf("read back %v", got)
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Starting on a full disk is refused with a message, not a fault while Badger replays.
	testutil.MustFill(t, filler, 1<<20)
	if _, err := Open(data, nil, nil, smallOptions()); !errors.Is(err, ErrFull) {
		t.Fatalf("open on a full disk: %v, want ErrFull", err)
	}
}

// TestCloseOnFullDiskLeavesTheWAL: closing with no room for Badger to turn its memtable
// into a table (a write through a memory map, which faults on a full tmpfs) leaves the
// database as a crash would, and the next open replays every window that was written. The
// writing and closing run in a child process (this test binary again), as in rumd: Badger
// keeps its directory lock until the process exits, and a fault must not take the test
// binary down with it.
func TestCloseOnFullDiskLeavesTheWAL(t *testing.T) {
	base := int64(1763683200)
	if data := os.Getenv("RUMD_TEST_CLOSE_FULL"); data != "" {
		db := mustOpen(t, data, smallOptions())
		for i := int64(0); i < 5; i++ {
			if err := db.WriteWindow(window(base+60*i, map[string][]float64{"/a": {100}})); err != nil {
				t.Fatal(err)
			}
		}
		testutil.MustFill(t, filepath.Join(filepath.Dir(data), "filler"), 0)
		if err := db.Close(context.Background()); !errors.Is(err, ErrFull) {
			t.Fatalf("close on a full disk: %v, want ErrFull", err)
		}
		return
	}
	dir := testutil.MustTmpfs(t, 16<<20)
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCloseOnFullDiskLeavesTheWAL$", "-test.count=1")
	child.Env = append(os.Environ(), "RUMD_TEST_CLOSE_FULL="+data)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("writing then closing on a full disk: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, data, smallOptions())
	defer db.Close(context.Background())
	if !db.Recovered || db.Flushed() != base+300 {
		t.Fatalf("reopened: recovered %v, flushed until +%d", db.Recovered, db.Flushed()-base)
	}
	var n uint64
	for _, s := range collect(t, db, Minute, base, base+300) {
		n += uint64(s.GetCount())
	}
	if n != 5 {
		t.Fatalf("read back %d values of 5", n)
	}
}

// TestFullErrors: the errors a filesystem gives when it takes no more are recognised, also
// after Badger has flattened them into text.
func TestFullErrors(t *testing.T) {
	dir := testutil.MustTmpfs(t, 1<<20)
	testutil.MustFill(t, filepath.Join(dir, "filler"), 0)
	enospc := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 64<<10), 0o644)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ENOSPC", enospc, true},
		{"as text", fmt.Errorf("writeRequests err: %+v", enospc), true},
		{"read-only", fmt.Errorf("while opening memtable: open 00002.mem: read-only file system"), true},
		{"other", errors.New("checksum mismatch"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isFullErr(tc.err); got != tc.want {
				t.Fatalf("isFullErr(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
