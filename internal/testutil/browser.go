//go:build integration

package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// PersonUA is a desktop Chromium User-Agent: rumd rejects "HeadlessChrome" as a bot, and the
// browser tests are about beacons, not about the bot filter.
const PersonUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// BrowserStartTimeout bounds the start of a browser, or of a tab in one.
const BrowserStartTimeout = 60 * time.Second

// BrowserBudget bounds the life of a browser MustChromium starts: every action on it fails
// once that time is spent, so a page or a browser that stops answering fails the test with
// what the test saw rather than hanging it until go test's -timeout.
const BrowserBudget = 5 * time.Minute

// MustBrowser starts Debian's headless Chromium with a fresh profile; it is stopped when the
// test ends. person hides the automation from the page (navigator.webdriver false, a
// desktop User-Agent).
func MustBrowser(tb testing.TB, person bool) context.Context {
	tb.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.WindowSize(1280, 1000)}
	if person {
		opts = append(opts, chromedp.Flag("disable-blink-features", "AutomationControlled"), chromedp.UserAgent(PersonUA))
	}
	return MustChromium(tb, opts...)
}

// MustChromium starts Debian's headless Chromium with a fresh profile and opts on top of the
// tests' usual flags, under a supervisor (see Supervise), and returns the context of its
// first tab, which ends BrowserBudget after the start. It fails the test if the browser has
// not started within BrowserStartTimeout.
// When the test ends the browser is closed; should that take over 30 s, it is killed with
// everything it started.
func MustChromium(tb testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		tb.Fatalf("chromium not found (apt-get install chromium; make deps does): %v", err)
	}
	var (
		mu        sync.Mutex
		lifelines []*os.File
		superr    error
	)
	killAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lifelines {
			l.Close()
		}
	}
	all := append([]chromedp.ExecAllocatorOption{
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
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			l, err := Supervise(cmd)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				superr = err
				return
			}
			lifelines = append(lifelines, l)
			// chromedp made cmd with exec.CommandContext: its cancel kills the tree too.
			cmd.Cancel = l.Close
		}),
	}, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		closed := make(chan struct{})
		go func() { cancel(); cancelAlloc(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			killAll()
			select {
			case <-closed:
			case <-time.After(15 * time.Second):
				tb.Errorf("chromium still not closed 15 s after it was killed")
			}
		}
		killAll() // a no-op unless something is left
	})
	if err := StartTab(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if superr != nil {
		tb.Fatalf("start chromium under a supervisor: %v", superr)
	}
	// Derived after the first action, the deadline bounds the actions, not the browser.
	bctx, bcancel := context.WithTimeout(ctx, BrowserBudget)
	tb.Cleanup(bcancel)
	return bctx
}

// StartTab starts the browser or tab of a chromedp context (its first action), for at most
// BrowserStartTimeout. It cannot be bounded by a context of its own: chromedp ties the
// tab's life to the context of the first action, so a timeout there would close it.
func StartTab(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(BrowserStartTimeout):
		return fmt.Errorf("not started within %v", BrowserStartTimeout)
	}
}
