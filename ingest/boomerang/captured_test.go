package boomerang_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// capturedBeacon is one request boomerang sent from Chromium, as the browser test recorded
// it (`go test -tags integration -run TestBoomerangInChromium -capture`).
type capturedBeacon struct {
	Method      string `json:"method"`
	Query       string `json:"query"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
	// RecvMs is when the beacon reached the server, in epoch ms.
	RecvMs int64 `json:"recv_ms"`
}

func (b capturedBeacon) recv() time.Time { return time.UnixMilli(b.RecvMs) }

// mustCaptured reads testdata/captured/name.
func mustCaptured(tb testing.TB, name string) capturedBeacon {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "captured", name))
	if err != nil {
		tb.Fatal(err)
	}
	var b capturedBeacon
	if err := json.Unmarshal(raw, &b); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return b
}
