package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The damage tests open the store in a child process (this test binary run again), so
// that a panic in one of Badger's goroutines shows as exit code 2 instead of killing the
// test run.
const (
	childOpenEnv  = "RUMD_STORAGE_CHILD_OPEN"
	childCrashEnv = "RUMD_STORAGE_CHILD_CRASH"
	checkBase     = int64(1763683200) // a midnight
	checkWindows  = 120
	checkPages    = 50
)

// TestChildProcess is not a test of its own: it is the child of the damage tests.
func TestChildProcess(t *testing.T) {
	switch {
	case os.Getenv(childOpenEnv) != "":
		db, err := Open(os.Getenv(childOpenEnv), nil, nil, DefaultOptions())
		if err != nil {
			var de *DamageError
			fmt.Printf("OPEN_ERR damage=%v %v\n", errors.As(err, &de), err)
			os.Exit(0)
		}
		n := len(collect(t, db, Minute, checkBase, checkBase+checkWindows*60))
		fmt.Printf("OPEN_OK flushed=%d series=%d\n", db.Flushed(), n)
		if err := db.Close(context.Background()); err != nil {
			fmt.Println("CLOSE_ERR", err)
		}
		os.Exit(0)
	case os.Getenv(childCrashEnv) != "":
		db := mustOpen(t, os.Getenv(childCrashEnv), DefaultOptions())
		writeCheckWindows(t, db)
		os.Exit(0) // no Close: the writes stay in the write-ahead log
	}
	t.Skip("child process of the damage tests")
}

func writeCheckWindows(tb testing.TB, db *DB) {
	tb.Helper()
	for i := int64(0); i < checkWindows; i++ {
		pages := map[string][]float64{}
		for p := 0; p < checkPages; p++ {
			pages[fmt.Sprintf("/p%d", p)] = []float64{float64(100 + p + int(i))}
		}
		if err := db.WriteWindow(window(checkBase+i*60, pages)); err != nil {
			tb.Fatal(err)
		}
	}
}

// runChild runs this test binary's TestChildProcess with env and returns its output and
// exit code; a child that does not finish within a minute is killed and fails the test.
func runChild(t *testing.T, env string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("child %s did not finish within a minute:\n%s", env, out)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// closedStore is a store with checkWindows windows of checkPages pages, closed cleanly:
// everything is in tables.
func closedStore(t *testing.T) string {
	dir := t.TempDir()
	db := mustOpen(t, dir, DefaultOptions())
	writeCheckWindows(t, db)
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// crashedStore is the same store left by a process that exited without closing it: the
// windows are in the write-ahead log (*.mem), not in tables.
func crashedStore(t *testing.T) string {
	dir := t.TempDir()
	if out, code := runChild(t, childCrashEnv+"="+dir); code != 0 {
		t.Fatalf("crash child exited %d:\n%s", code, out)
	}
	return dir
}

func only(t *testing.T, dir, glob string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(m) != 1 {
		t.Fatalf("want one %s in %s, found %v", glob, dir, m)
	}
	return m[0]
}

func truncateTo(t *testing.T, path string, size func(int64) int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size(fi.Size())); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	full := fmt.Sprintf("OPEN_OK flushed=%d series=%d", checkBase+checkWindows*60, checkPages)
	for _, tc := range []struct {
		name    string
		store   func(*testing.T) string
		damage  func(t *testing.T, dir string) string // returns the file the error must name
		want    string                                // in the child's output
		survive string                                // a file that must still be there
	}{
		{"intact", closedStore, func(*testing.T, string) string { return "" }, full, "*.sst"},
		{"table cut in half", closedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.sst")
			truncateTo(t, p, func(n int64) int64 { return n / 2 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"table cut inside its footer", closedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.sst")
			truncateTo(t, p, func(n int64) int64 { return n - 10 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"table zeroed", closedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.sst")
			truncateTo(t, p, func(int64) int64 { return 0 })
			truncateTo(t, p, func(int64) int64 { return 100_000 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"table block overwritten", closedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.sst")
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("overwritten"), 1000); err != nil {
				t.Fatal(err)
			}
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"table missing", closedStore, func(t *testing.T, dir string) string {
			if err := os.Remove(only(t, dir, "*.sst")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "MANIFEST")
		}, "OPEN_ERR damage=true", "MANIFEST"},
		{"MANIFEST missing", closedStore, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"MANIFEST cut inside a record", closedStore, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			truncateTo(t, p, func(n int64) int64 { return n - 3 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"MANIFEST cut to its header", closedStore, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			truncateTo(t, p, func(int64) int64 { return manifestHeader })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"MANIFEST empty", closedStore, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			truncateTo(t, p, func(int64) int64 { return 0 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		{"KEYREGISTRY cut", closedStore, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "KEYREGISTRY")
			truncateTo(t, p, func(int64) int64 { return 10 })
			return p
		}, "OPEN_ERR damage=true", "*.sst"},
		// Badger writes a new registry: rumd does not encrypt, so nothing is lost.
		{"KEYREGISTRY missing", closedStore, func(t *testing.T, dir string) string {
			if err := os.Remove(filepath.Join(dir, "KEYREGISTRY")); err != nil {
				t.Fatal(err)
			}
			return ""
		}, full, "*.sst"},
		// Values under 64 KiB live in the tables: the value log is empty and Badger starts a
		// new one.
		{"value log cut", closedStore, func(t *testing.T, dir string) string {
			truncateTo(t, only(t, dir, "*.vlog"), func(int64) int64 { return 10 })
			return ""
		}, full, "*.sst"},
		{"crashed, write-ahead log intact", crashedStore, func(*testing.T, string) string { return "" }, full, ""},
		{"crashed, write-ahead log cut in its header", crashedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.mem")
			truncateTo(t, p, func(int64) int64 { return 10 })
			return p
		}, "OPEN_ERR damage=true", "*.mem"},
		{"crashed, write-ahead log emptied", crashedStore, func(t *testing.T, dir string) string {
			p := only(t, dir, "*.mem")
			truncateTo(t, p, func(int64) int64 { return 0 })
			return p
		}, "OPEN_ERR damage=true", "*.mem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.store(t)
			file := tc.damage(t, dir)
			out, code := runChild(t, childOpenEnv+"="+dir)
			if code != 0 || strings.Contains(out, "panic") {
				t.Fatalf("open exited %d (2 is a panic):\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("want %q in the child's output:\n%s", tc.want, out)
			}
			if file != "" && !strings.Contains(out, file) {
				t.Errorf("the error does not name %s:\n%s", file, out)
			}
			if tc.survive != "" {
				if m, _ := filepath.Glob(filepath.Join(dir, tc.survive)); len(m) == 0 {
					t.Errorf("%s was deleted by the failed open", tc.survive)
				}
			}
		})
	}
}

func TestOpenKeepsTablesOfAnInterruptedFlush(t *testing.T) {
	// A table newer than every table the MANIFEST names, with the write-ahead log still
	// there, is what a flush killed before it was recorded leaves: Badger deletes it and
	// replays the log, and no data is lost.
	dir := crashedStore(t)
	other := closedStore(t)
	src := only(t, other, "*.sst")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "000007.sst"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runChild(t, childOpenEnv+"="+dir)
	want := fmt.Sprintf("OPEN_OK flushed=%d series=%d", checkBase+checkWindows*60, checkPages)
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want %q:\n%s", code, want, out)
	}
}
