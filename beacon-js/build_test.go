package beaconjs

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rumd/beacon-js/internal/bundle"
)

// snippetBudget is docs/design.md §7's ceiling for /rumd.js, minified and gzipped.
const snippetBudget = 5 * 1024

// needNodeModules skips a test that bundles from source when `npm ci` has not run here,
// except in CI (CI=true), where `make test` installs them and a missing install is a failure.
func needNodeModules(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("node_modules/web-vitals/package.json"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node_modules/web-vitals missing in CI: %v", err)
		}
		t.Skip("node_modules missing: run `npm ci` in beacon-js (make deps does)")
	}
}

func TestCommittedBuildIsFresh(t *testing.T) {
	needNodeModules(t)
	built, err := bundle.Build(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range built {
		got, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./beacon-js)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./beacon-js and commit dist/", name)
		}
	}
}

func TestSnippetSizeBudget(t *testing.T) {
	snip, err := buildSnippet(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Measured at gzip's default level, which is what most servers and CDNs use; rumd
	// itself serves the smaller best-compression form.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(snip.plain)
	zw.Close()
	t.Logf("/rumd.js: %d bytes minified, %d bytes gzipped (default level), %d served (best)",
		len(snip.plain), buf.Len(), len(snip.gz))
	if buf.Len() > snippetBudget {
		t.Errorf("/rumd.js is %d bytes gzipped, over the %d-byte budget", buf.Len(), snippetBudget)
	}
}

// TestWebVitalsPinned checks that package.json pins web-vitals to one exact version and that
// the lockfile holds that version, so `npm ci` always bundles the same library.
func TestWebVitalsPinned(t *testing.T) {
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
	want := pkg.Dependencies["web-vitals"]
	if want == "" || strings.ContainsAny(want, "^~<>=*x| ") {
		t.Fatalf("package.json web-vitals = %q, want one exact version", want)
	}
	got := lock.Packages["node_modules/web-vitals"]
	if got.Version != want || got.Integrity == "" {
		t.Errorf("package-lock.json has web-vitals %q (integrity %q), want %q with integrity", got.Version, got.Integrity, want)
	}
}
