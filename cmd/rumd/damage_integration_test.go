//go:build integration

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

// TestServeRefusesDamagedDataDir runs the real binary on a data directory with a cut table
// and one without its MANIFEST: rumd exits 1 (2 would be a panic) with a log line naming the
// file, and leaves the tables where they were.
func TestServeRefusesDamagedDataDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string) string
	}{
		{"table cut in half", func(t *testing.T, dir string) string {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				t.Fatal("no table written")
			}
			fi, err := os.Stat(tables[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(tables[0], fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}},
		{"MANIFEST missing", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeStore(t, dir)
			file := tc.damage(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary, "serve", "--listen", "127.0.0.1:0", "--data", dir, "--geoip", "none").CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("rumd did not exit within 30 s:\n%s", out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("rumd exited with %v, want exit code 1:\n%s", err, out)
			}
			if strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic") {
				t.Errorf("rumd printed a stack trace:\n%s", out)
			}
			if !strings.Contains(string(out), "data directory is damaged") || !strings.Contains(string(out), file) {
				t.Errorf("the error does not say the directory is damaged and name %s:\n%s", file, out)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(m) == 0 {
				t.Error("the tables were deleted")
			}
		})
	}
}

// writeStore writes an hour of windows through the storage API and closes the store, so
// that they are in a table.
func writeStore(t *testing.T, dir string) {
	t.Helper()
	db, err := storage.Open(dir, nil, nil, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	view := series.NewView(series.Page)
	base := time.Now().Add(-2*time.Hour).Unix() / 3600 * 3600
	for i := int64(0); i < 60; i++ {
		var l series.Labels
		l[series.Page] = "/checkout"
		s := sketch.New()
		s.Add(float64(100 + i))
		w := &storage.Window{Start: base + i*60, Entries: []storage.Entry{{View: view.Mask, Metric: series.TTFB,
			Series: series.AppendKey(nil, view, &l), Sketch: s}}}
		w.Values[series.Page] = []string{"/checkout"}
		if err := db.WriteWindow(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
