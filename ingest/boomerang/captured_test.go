package boomerang_test

import (
	"path/filepath"
	"testing"

	"rumd/internal/testutil"
)

// capturedBeacon is one request boomerang sent from Chromium, as the browser test recorded
// it (`go test -tags integration -run TestBoomerangInChromium -capture`).
type capturedBeacon = testutil.BoomerangCapture

// mustCaptured reads testdata/captured/name.
func mustCaptured(tb testing.TB, name string) capturedBeacon {
	tb.Helper()
	return testutil.MustBoomerangCapture(tb, filepath.Join("testdata", "captured", name))
}
