package home

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rumd/home/internal/bundle"
)

// needNodeModules skips a test that bundles from source when `npm ci` has not run here,
// except in CI (CI=true), where `make test` installs them and a missing install is a failure.
func needNodeModules(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("node_modules/uplot/package.json"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node_modules/uplot missing in CI: %v", err)
		}
		t.Skip("node_modules missing: run `npm ci` in home (make deps does)")
	}
}

func TestCommittedBuildIsFresh(t *testing.T) {
	needNodeModules(t)
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

// TestUPlotPinned checks that package.json pins uPlot to one exact version and that the
// lockfile holds that version, so `npm ci` always bundles the same library.
func TestUPlotPinned(t *testing.T) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	for name, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	want := pkg.Dependencies["uplot"]
	if want == "" || strings.ContainsAny(want, "^~<>=*x| ") {
		t.Fatalf("package.json uplot = %q, want one exact version", want)
	}
	got := lock.Packages["node_modules/uplot"]
	if got.Version != want || got.Integrity == "" {
		t.Errorf("package-lock.json has uplot %q (integrity %q), want %q with integrity", got.Version, got.Integrity, want)
	}
}
