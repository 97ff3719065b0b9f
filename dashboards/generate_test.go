package dashboards

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"rumd/dashboards/internal/define"
)

// TestCommittedDashboardsAreFresh fails when the committed dashboards differ from what their
// definition renders, or when a generated file has no definition any more.
func TestCommittedDashboardsAreFresh(t *testing.T) {
	built, err := define.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(built) < 12 {
		t.Fatalf("the definition renders only %d files", len(built))
	}
	for name, want := range built {
		got, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./dashboards)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./dashboards and commit it", name)
		}
		if emb, err := fs.ReadFile(FS(), name); err != nil || !bytes.Equal(emb, got) {
			t.Errorf("%s: the embedded copy differs from the file (%v)", name, err)
		}
	}
	// Every shipped dashboard but the hand-written health one is generated.
	for _, pattern := range []string{"*.json", PrometheusDir + "/*.json"} {
		names, _ := fs.Glob(FS(), pattern)
		for _, n := range names {
			if _, ok := built[n]; !ok && n != healthFile {
				t.Errorf("%s is shipped but not generated: remove it or define it", n)
			}
		}
	}
}
