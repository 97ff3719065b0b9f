//go:build integration

package testutil

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// PersonUA is a desktop Chromium User-Agent: rumd rejects "HeadlessChrome" as a bot, and the
// browser tests are about beacons, not about the bot filter.
const PersonUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// MustBrowser starts Debian's headless Chromium with a fresh profile; it is stopped when the
// test ends. person hides the automation from the page (navigator.webdriver false, a
// desktop User-Agent).
func MustBrowser(tb testing.TB, person bool) context.Context {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		tb.Fatalf("chromium not found (apt-get install chromium; make deps does): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
	}
	if person {
		opts = append(opts, chromedp.Flag("disable-blink-features", "AutomationControlled"), chromedp.UserAgent(PersonUA))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}
