package testutil

import (
	"encoding/json"
	"net/url"
	"os"
	"testing"
	"time"
)

// BoomerangCapture is one request the real boomerang sent from Chromium, as the browser test
// of ingest/boomerang recorded it under ingest/boomerang/testdata/captured.
type BoomerangCapture struct {
	Method      string `json:"method"`
	Query       string `json:"query"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
	// RecvMs is when the beacon reached the server, in epoch ms.
	RecvMs int64 `json:"recv_ms"`
}

// Recv is when the beacon reached the server.
func (c BoomerangCapture) Recv() time.Time { return time.UnixMilli(c.RecvMs) }

// Form is the beacon's parameters, the query string's and the body's merged (the body's
// win), read with net/url.
func (c BoomerangCapture) Form(tb testing.TB) url.Values {
	tb.Helper()
	vals, err := url.ParseQuery(c.Query)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := url.ParseQuery(c.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range body {
		vals[k] = v
	}
	return vals
}

// MustBoomerangCapture reads a captured boomerang beacon from path.
func MustBoomerangCapture(tb testing.TB, path string) BoomerangCapture {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var c BoomerangCapture
	if err := json.Unmarshal(raw, &c); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return c
}
