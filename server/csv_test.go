package server

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"rumd/internal/testutil"
)

func getCSV(t *testing.T, ts *testServer, path string, hdr map[string]string) (*http.Response, [][]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if body, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	rows, err := csv.NewReader(body).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, rows
}

// TestSeriesAndSummaryAsCSV: format=csv and Accept: text/csv answer streamed CSV with a
// header row, the same numbers as the JSON answer; JSON stays the default.
func TestSeriesAndSummaryAsCSV(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	for i := 0; i < 200; i++ {
		page := []string{"https://example.com/questions/1", "https://example.com/users/7"}[i%2]
		ip := []string{"1.2.3.9", "5.6.7.8"}[i/100]
		if status, _, b := ts.post(t, testutil.MustJSON(t, testutil.Beacon(now, page, float64(100+i), 2000)), map[string]string{"X-Forwarded-For": ip}); status != 204 {
			t.Fatalf("post: %d %s", status, b)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ts.agg.Applied() < 200; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of 200", ts.agg.Applied())
		}
	}

	resp, rows := getCSV(t, ts, "/api/v1/summary?metric=ttfb&from=-1h&by=country&q=0.5,0.99&format=csv", nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || resp.ContentLength != -1 {
		t.Fatalf("Content-Type %q, length %d: want streamed text/csv", ct, resp.ContentLength)
	}
	var js summaryAnswer
	ts.get(t, "/api/v1/summary?metric=ttfb&from=-1h&by=country&q=0.5,0.99", &js)
	if fmt.Sprint(rows[0]) != "[country count q0.5 q0.99]" || len(rows) != 3 || len(js.Rows) != 2 {
		t.Fatalf("summary CSV %q, JSON %+v", rows, js)
	}
	for i, r := range rows[1:] {
		j := js.Rows[i]
		if r[0] != j.Labels["country"] || r[1] != "100" || r[2] != strconv.FormatFloat(j.Q["0.5"], 'g', -1, 64) || r[3] != strconv.FormatFloat(j.Q["0.99"], 'g', -1, 64) {
			t.Fatalf("CSV row %q, JSON row %+v", r, j)
		}
	}
	// DE got TTFBs 100..199: its median is 149.5 up to the sketch's 1.08%.
	if med, _ := strconv.ParseFloat(rows[1][2], 64); rows[1][0] != "DE" || math.Abs(med-149.5)/149.5 > 0.011 {
		t.Fatalf("DE row %q", rows[1])
	}

	resp, rows = getCSV(t, ts, "/api/v1/series?metric=ttfb&from=-1h&to=now&step=60&by=page", map[string]string{"Accept": "text/csv", "Accept-Encoding": "gzip"})
	if resp.Header.Get("Content-Encoding") != "gzip" || fmt.Sprint(rows[0]) != "[time page count q0.5 q0.75 q0.95 q0.99]" {
		t.Fatalf("series CSV: encoding %q, header %q", resp.Header.Get("Content-Encoding"), rows[0])
	}
	total := 0
	for _, r := range rows[1:] {
		if _, err := time.Parse(time.RFC3339, r[0]); err != nil {
			t.Fatalf("time %q: %v", r[0], err)
		}
		n, _ := strconv.Atoi(r[2])
		total += n
	}
	if total != 200 {
		t.Fatalf("series CSV counts %d, want 200: %q", total, rows)
	}

	// JSON unless CSV is asked for, and a clear refusal of an unknown format.
	var js2 seriesAnswer
	if code := ts.get(t, "/api/v1/series?metric=ttfb&from=-1h&by=page", &js2); code != 200 || len(js2.Series) != 2 {
		t.Fatalf("default answer %d %+v", code, js2)
	}
	var e apiError
	if code := ts.get(t, "/api/v1/summary?metric=ttfb&format=xml", &e); code != 400 || e.Reason != "bad_format" {
		t.Fatalf("format=xml: %d %+v", code, e)
	}
}
