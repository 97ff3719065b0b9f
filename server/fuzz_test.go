package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzQueryParams throws arbitrary query strings at the query API: every answer is a 200 or
// a 4xx with a JSON reason, never a panic or a 500.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{
		"metric=ttfb&from=-1h&to=now&step=60&q=0.5,0.95&country=US&by=page",
		"metric=lcp&from=-24h&q=0.75&by=country",
		"metric=cls&step=1d&from=-30d", "metric=ttfb&step=5m&q=1,0", "metric=probe_total&by=probe",
		"metric=ttfb&q=NaN", "metric=ttfb&step=-1", "metric=ttfb&from=1e99", "metric=ttfb&by=,,,",
		"metric=ttfb&page=%00&country=%ff", "metric=ttfb&step=99999999999999999999",
		"metric=ttfb&by=page&format=csv", "metric=ttfb&format=CSV", "metric=ttfb&format=",
	} {
		f.Add(s)
	}
	srv := startServer(f, nil).srv
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/api/v1/series?", "/api/v1/summary?"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path = strings.TrimSuffix(path, "?")
			req.URL.RawQuery = raw
			resp, err := srv.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 && (resp.StatusCode >= 500 || !strings.Contains(string(b), `"reason"`)) {
				t.Fatalf("%s%s: %d %s", path, raw, resp.StatusCode, b)
			}
		}
	})
}
