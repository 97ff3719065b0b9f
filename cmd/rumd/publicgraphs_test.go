package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"rumd/internal/testutil"
)

// TestPublicGraphs checks --public-graphs: with a token set, a graph URL (GET /render in
// png or svg) answers without the token, while the data formats, POST /render and the
// query API still need it; without the option the same graph URL needs the token.
func TestPublicGraphs(t *testing.T) {
	const token = "graph-token-0123456789"
	graph := "/render?target=rumd.total.ttfb.count&from=-10min&width=200&height=100"
	do := func(t *testing.T, base, method, path, auth, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := testutil.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	t.Run("public", func(t *testing.T) {
		base := startInProcess(t, "--token", token, "--public-graphs")
		for _, tc := range []struct {
			method, path, auth, body string
			want                     int
			ctype                    string
		}{
			{"GET", graph, "", "", 200, "image/png"},
			{"GET", graph + "&format=png", "", "", 200, "image/png"},
			{"GET", graph + "&format=svg", "", "", 200, "image/svg+xml"},
			{"GET", graph + "&format=json", "", "", 401, ""},
			{"GET", graph + "&format=raw", "", "", 401, ""},
			{"GET", graph + "&format=csv", "", "", 401, ""},
			{"GET", graph + "&format=png&format=raw", "", "", 401, ""},
			{"GET", graph + "&format=raw", token, "", 200, "text/plain"},
			{"POST", "/render", "", "target=rumd.total.ttfb.count&format=png", 401, ""},
			{"GET", "/api/v1/series?metric=ttfb", "", "", 401, ""},
			{"GET", "/metrics/find?query=rumd.*", "", "", 401, ""},
		} {
			code, ctype := do(t, base, tc.method, tc.path, tc.auth, tc.body)
			if code != tc.want || !strings.HasPrefix(ctype, tc.ctype) {
				t.Errorf("%s %s (token %v): %d %q, want %d %q", tc.method, tc.path, tc.auth != "", code, ctype, tc.want, tc.ctype)
			}
		}
	})
	t.Run("private", func(t *testing.T) {
		base := startInProcess(t, "--token", token)
		if code, _ := do(t, base, "GET", graph, "", ""); code != 401 {
			t.Errorf("graph without --public-graphs and without the token: %d", code)
		}
		if code, ctype := do(t, base, "GET", graph, token, ""); code != 200 || ctype != "image/png" {
			t.Errorf("graph with the token: %d %q", code, ctype)
		}
	})
}
