//go:build integration

package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// TestFormatsConfigOnTheBinary starts the real binary with the formats: section, with the
// new flags and with the old ones, and checks where each format is served and where the
// snippet is told to post.
func TestFormatsConfigOnTheBinary(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rumd.yaml")
	if err := os.WriteFile(cfg, []byte("formats:\n  v1: {path: /rum, body_limit: 2048}\n  boomerang: {enabled: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		served map[string]int // path → status of a POST of a good v1 beacon
		limit  int            // v1 body limit
	}{
		{"file", []string{"--config", cfg}, map[string]int{"/rum": 204, "/timings": 404, "/beacon": 404}, 2048},
		{"new flags", []string{"--formats-v1-path", "/rum", "--formats-boomerang-path", "/b"}, map[string]int{"/rum": 204, "/timings": 404, "/b": 400, "/beacon": 404}, 65536},
		{"old flags", []string{"--ingest-path", "/rum", "--boomerang-path", "", "--body-limit", "4096"}, map[string]int{"/rum": 204, "/timings": 404, "/beacon": 404}, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRumd(t, append([]string{"--data", t.TempDir(), "--geoip", "none"}, tc.args...)...)
			defer r.stop(15)
			body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/p", 300, 1500))
			for path, want := range tc.served {
				if got := postTo(t, r.url+path, "text/plain", body); got != want {
					t.Errorf("POST %s: %d, want %d", path, got, want)
				}
			}
			big := append(bytes.Repeat([]byte(" "), tc.limit+1-len(body)), body...)
			if got := postTo(t, r.url+"/rum", "text/plain", big); got != http.StatusRequestEntityTooLarge {
				t.Errorf("POST /rum over %d bytes: %d, want 413", tc.limit, got)
			}
			resp, err := testutil.HTTP.Get(r.url + "/rumd.js")
			if err != nil {
				t.Fatal(err)
			}
			js, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(js, []byte(`"endpoint":"/rum"`)) {
				t.Errorf("the snippet does not post to /rum")
			}
		})
	}
}

func postTo(t *testing.T, target, ct string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	req.Header.Set("Expect", "100-continue") // the 413 is answered before the body is sent
	resp, err := testutil.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
