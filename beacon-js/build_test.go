package beaconjs

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"rumd/beacon-js/internal/bundle"
	"rumd/internal/testutil"
)

// snippetBudget is docs/design.md §7's ceiling for /rumd.js, minified and gzipped.
const snippetBudget = 5 * 1024

// needNodeModules skips a test that bundles from source when `npm ci` has not run here
// (it fails instead in CI).
func needNodeModules(t *testing.T) { testutil.NeedNodeModules(t, ".", "web-vitals") }

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

// TestWebVitalsPinned checks that web-vitals is pinned to one exact version in package.json
// and package-lock.json, so `npm ci` always bundles the same library.
func TestWebVitalsPinned(t *testing.T) { testutil.MustPinnedNPM(t, ".", "web-vitals") }
