package home

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/buildinfo"
)

// TestBuildShown checks the running build is named by /api/v1/status (from rumd_build_info)
// and in the page's footer.
func TestBuildShown(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := buildinfo.Info{Version: "v1.4.0-2-g0123abc", Commit: "0123abcdef0123abcdef0123abcdef0123abcdef", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.x"}
	if err := buildinfo.Register(reg, b); err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	if err := Mount(app, reg, Options{Version: b.Version, Commit: b.Commit, IngestPath: "/timings"}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := app.Test(httptest.NewRequest("GET", path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	var st statusAnswer
	if err := json.Unmarshal([]byte(get("/api/v1/status")), &st); err != nil {
		t.Fatal(err)
	}
	if want := (buildState{b.Version, b.Commit, b.GoVersion}); st.Build != want {
		t.Fatalf("status build %+v, want %+v", st.Build, want)
	}
	if page := get("/"); !strings.Contains(page, "rumd v1.4.0-2-g0123abc (commit 0123abcdef01)") {
		t.Fatalf("footer does not name the build:\n%s", page[strings.LastIndex(page, "<footer"):])
	}
}
