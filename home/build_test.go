package home

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rumd/home/internal/bundle"
	"rumd/internal/testutil"
)

func TestCommittedBuildIsFresh(t *testing.T) {
	testutil.NeedNodeModules(t, ".", "uplot")
	built, err := bundle.Build(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(bundle.Entries) {
		t.Fatalf("built %d files for %d entries", len(built), len(bundle.Entries))
	}
	for name, want := range built {
		got, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./home)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./home and commit dist/", name)
		}
	}
}

// TestNoOutsideResources checks that the page loads nothing from another host: no CDN, no
// web fonts, nothing but rumd's own paths.
func TestNoOutsideResources(t *testing.T) {
	for _, name := range []string{"src/index.html", "dist/home.js", "dist/home.css"} {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"@font-face", "fonts.googleapis", "<script src=\"http", "href=\"http", "@import url(http"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

// TestUPlotPinned checks that uPlot is pinned to one exact version in package.json and
// package-lock.json, so `npm ci` always bundles the same library.
func TestUPlotPinned(t *testing.T) { testutil.MustPinnedNPM(t, ".", "uplot") }
