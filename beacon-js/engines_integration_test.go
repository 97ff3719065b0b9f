//go:build integration

package beaconjs_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rumd/internal/testutil"
	"rumd/internal/webdriver"
)

// browser is one running browser engine as the engine tests drive it (docs/browsers.md):
// Chromium over CDP (chromedp), Firefox ESR over WebDriver BiDi (puppeteer-core, from a
// node script) and WebKitGTK over classic WebDriver (WebKitWebDriver under Xvfb).
type browser interface {
	// Goto loads url in the current tab and returns after its load event.
	Goto(url string) error
	// Eval evaluates a JavaScript expression in the current page, awaits a promise it
	// gives, and decodes its JSON value into out (nil: discard).
	Eval(expr string, out any) error
	// NewTab opens a fresh tab and makes it the current one; person hides the automation
	// from its pages (navigator.webdriver false), as it is for a visitor's browser.
	NewTab(person bool) error
	// Back goes back in history from the page itself (history.back()) and returns without
	// waiting: a restore from the back-forward cache fires no load event.
	Back() error
	// Version names the engine and its version, for the test log.
	Version() string
	// Diagnose describes what the browser shows now (its page's address, state and text)
	// and the end of its driver's log, for a check that failed.
	Diagnose() string
	// setCheckEnd bounds the commands of the check that runs until end (zero: no check).
	setCheckEnd(end time.Time)
}

// commandTimeout bounds each command to a browser's driver; checkBudget bounds all of one
// check's commands. A driver or page that stops answering fails the check with what it
// saw (Diagnose) instead of hanging the test until go test's -timeout.
const (
	commandTimeout = 30 * time.Second
	checkBudget    = 90 * time.Second
)

// errBudgetSpent is the error of a command after its check's budget ran out.
var errBudgetSpent = fmt.Errorf("the check's %v budget is spent", checkBudget)

// deadlines gives each command of a browser its deadline: commandTimeout, or what is left of
// the running check's budget if that is less.
type deadlines struct {
	mu  sync.Mutex
	end time.Time
}

func (d *deadlines) setCheckEnd(end time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.end = end
}

// timeout is how long the next command may take; an error once the check's budget is spent.
func (d *deadlines) timeout() (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := commandTimeout
	if !d.end.IsZero() {
		left := time.Until(d.end)
		if left <= 0 {
			return 0, errBudgetSpent
		}
		t = min(t, left)
	}
	return t, nil
}

// ctx is the context of the next command, derived from parent.
func (d *deadlines) ctx(parent context.Context) (context.Context, context.CancelFunc, error) {
	t, err := d.timeout()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(parent, t)
	return ctx, cancel, nil
}

// pageState is the expression Diagnose evaluates in the page.
const pageState = `location.href + " (" + document.readyState + ") " + JSON.stringify(document.title) + ": " + JSON.stringify(document.body ? document.body.innerText.slice(0, 400) : "")`

// diagnose evaluates pageState in b, for at most 10 s, and appends the tail of the driver's
// log.
func diagnose(b browser, driverLog string) string {
	b.setCheckEnd(time.Now().Add(10 * time.Second))
	defer b.setCheckEnd(time.Time{})
	var page string
	if err := b.Eval(pageState, &page); err != nil {
		page = "(no answer: " + err.Error() + ")"
	}
	return "page " + page + "\n" + logTail(driverLog, 40)
}

// logTail is the last n lines of a log, under a heading.
func logTail(log string, n int) string {
	if strings.TrimSpace(log) == "" {
		return "driver log: empty"
	}
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "driver log (last lines):\n  " + strings.Join(lines, "\n  ")
}

// engine is how one browser engine is started, and what it reports (docs/browsers.md).
type engine struct {
	name string
	// start launches the engine for the test, its first tab presenting as a visitor's.
	start func(t *testing.T) browser
	// maskByPage says the engine has no way to run a script before a page's own (classic
	// WebDriver): the test servers put the mask at the top of each page instead, and
	// NewTab's person has no effect.
	maskByPage bool
	// vitals are the web vitals the engine reports on a page left without interaction;
	// lacks are the ones it cannot report at all (the test page lists them).
	vitals, lacks []string
	// bareProbeTimed says a probe host without CORS headers still yields a timing entry.
	bareProbeTimed bool
	// bfcache says the engine restores pages from the back-forward cache under automation.
	bfcache bool
	// cspRecorded says the engine's visitor tabs record CSP violations in window.__csp,
	// and the engine fetches /favicon.ico by itself (so a page must name its icon).
	cspRecorded bool
}

var engines = []engine{
	{name: "chromium", start: startChromium, vitals: []string{"fcp", "lcp", "cls"}, bareProbeTimed: true, bfcache: true},
	{name: "firefox", start: startFirefox, vitals: []string{"fcp", "lcp"}, lacks: []string{"cls"}, bareProbeTimed: true, bfcache: true, cspRecorded: true},
	{name: "webkit", start: startWebKit, maskByPage: true, vitals: []string{"fcp"}, lacks: []string{"lcp", "cls", "inp"}, bfcache: true, cspRecorded: true},
}

// maskScript makes navigator.webdriver false, as it is in a visitor's browser, and records
// the page's Content-Security-Policy violations in window.__csp for the tests to read (the
// same as beacon-js/firefox/drive.mjs's preload script).
const maskScript = `Object.defineProperty(Navigator.prototype, 'webdriver', {get: function () { return false; }, configurable: true});` +
	`window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });`

// maskTag is maskScript as the first element of a page's head, and maskHash its CSP source.
var (
	maskTag  = "<script>" + maskScript + "</script>"
	maskHash = func() string {
		sum := sha256.Sum256([]byte(maskScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
)

// injectMask puts the mask at the top of an HTML page's head and allows it in the page's
// Content-Security-Policy; a page without a head is left alone.
func injectMask(html []byte, csp string) ([]byte, string) {
	s := string(html)
	i := strings.Index(s, "<head>")
	if i < 0 {
		return html, csp
	}
	i += len("<head>")
	s = s[:i] + maskTag + s[i:]
	if csp != "" {
		csp = strings.Replace(csp, "script-src ", "script-src "+maskHash+" ", 1)
	}
	return []byte(s), csp
}

// --- Chromium ---

type chromium struct {
	deadlines
	t         *testing.T
	root, ctx context.Context
	version   string
}

func startChromium(t *testing.T) browser {
	ctx := mustBrowserAs(t, true)
	c := &chromium{t: t, root: ctx, ctx: ctx}
	if err := c.Eval(`navigator.userAgent`, &c.version); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return c
}

func (c *chromium) Goto(url string) error {
	ctx, cancel, err := c.deadlines.ctx(c.ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

func (c *chromium) Eval(expr string, out any) error {
	ctx, cancel, err := c.deadlines.ctx(c.ctx)
	if err != nil {
		return err
	}
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil || out == nil || raw == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

func (c *chromium) NewTab(person bool) error {
	if !person {
		// The automation shows in flags of the whole browser (its User-Agent, the
		// AutomationControlled feature): a browser of its own.
		c.root = mustBrowserAs(c.t, false)
	}
	ctx, _ := chromedp.NewContext(c.root) // a new target in the same browser, closed with it
	if err := testutil.StartTab(ctx); err != nil {
		return err
	}
	c.ctx = ctx
	return nil
}

func (c *chromium) Back() error { return c.Eval(historyBack, nil) }

func (c *chromium) Version() string { return c.version }

func (c *chromium) Diagnose() string {
	return diagnose(c, "(chromedp drives Chromium in-process over CDP: no driver log)")
}

// historyBack goes back from the page, after the evaluation has returned.
const historyBack = `(setTimeout(() => history.back(), 0), true)`

// --- Firefox ---

// firefox is drive.mjs (beacon-js/firefox) running Firefox ESR: one JSON command per line.
type firefox struct {
	deadlines
	t       testing.TB
	mu      sync.Mutex
	in      io.WriteCloser
	lines   chan string
	seq     int
	version string
	stderr  *testutil.SyncBuffer
	proc    *testutil.Proc
}

func startFirefox(t *testing.T) browser {
	bin, err := exec.LookPath("firefox-esr")
	if err != nil {
		t.Fatalf("firefox-esr not found (apt-get install firefox-esr; .ci/run does): %v", err)
	}
	if _, err := os.Stat("firefox/node_modules/puppeteer-core/package.json"); err != nil {
		t.Fatalf("puppeteer-core missing: run npm ci in beacon-js/firefox (make deps does): %v", err)
	}
	f := &firefox{t: t, lines: make(chan string, 256), stderr: &testutil.SyncBuffer{}}
	// drive.mjs answers every command within its own bound (opTimeout there), under
	// commandTimeout: a stuck command does not hold up the ones after it.
	cmd := exec.Command("node", "firefox/drive.mjs", "--firefox", bin, "--profile", t.TempDir(),
		"--op-timeout", strconv.Itoa(int((commandTimeout-5*time.Second)/time.Millisecond)))
	cmd.Stderr = f.stderr
	cmd.Stdout = testutil.NewLineWriter(func(line []byte) { f.lines <- string(line) })
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.in = in
	p := testutil.MustStart(t, cmd) // Firefox, in a session of puppeteer's, goes with it
	f.proc = p
	t.Cleanup(func() {
		f.setCheckEnd(time.Now().Add(10 * time.Second))
		f.call("quit", nil, nil)
		in.Close()
		if !p.WaitFor(10 * time.Second) {
			p.Kill()
		}
		if t.Failed() {
			t.Logf("drive.mjs stderr:\n%s", f.stderr.String())
		}
	})
	if err := f.read(0, nil, 60*time.Second); err != nil {
		t.Fatalf("firefox did not start: %v\n%s", err, f.stderr.String())
	}
	if err := f.call("version", nil, &f.version); err != nil {
		t.Fatal(err)
	}
	return f
}

// read waits for the answer with id, for at most d.
func (f *firefox) read(id int, out any, d time.Duration) error {
	timeout := time.After(d)
	for {
		var line string
		select {
		case line = <-f.lines:
		case <-f.proc.Done():
			select {
			case line = <-f.lines: // an answer written just before the end
			default:
				return fmt.Errorf("drive.mjs exited (%v)", f.proc.Err())
			}
		case <-timeout:
			return fmt.Errorf("no answer from drive.mjs to command %d after %v", id, d)
		}
		var ans struct {
			ID    int             `json:"id"`
			Value json.RawMessage `json:"value"`
			Error string          `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &ans); err != nil {
			return fmt.Errorf("drive.mjs said %q: %v", line, err)
		}
		if ans.ID != id {
			continue // the late answer of a command that timed out
		}
		if ans.Error != "" {
			return fmt.Errorf("firefox: %s", ans.Error)
		}
		if out != nil {
			return json.Unmarshal(ans.Value, out)
		}
		return nil
	}
}

func (f *firefox) call(op string, args map[string]any, out any) error {
	d, err := f.timeout()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	cmd := map[string]any{"id": f.seq, "op": op}
	for k, v := range args {
		cmd[k] = v
	}
	b, _ := json.Marshal(cmd)
	if _, err := f.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("drive.mjs: %w", err)
	}
	return f.read(f.seq, out, d)
}

func (f *firefox) Goto(url string) error { return f.call("goto", map[string]any{"url": url}, nil) }
func (f *firefox) Eval(expr string, out any) error {
	return f.call("eval", map[string]any{"expr": expr}, out)
}
func (f *firefox) NewTab(person bool) error {
	return f.call("newtab", map[string]any{"person": person}, nil)
}
func (f *firefox) Back() error     { return f.call("back", nil, nil) }
func (f *firefox) Version() string { return f.version }
func (f *firefox) Diagnose() string {
	return diagnose(f, f.stderr.String())
}

// --- WebKit ---

// webkit is WebKitGTK's MiniBrowser behind WebKitWebDriver, on its own Xvfb display.
type webkit struct {
	deadlines
	s       *webdriver.Session
	version string
	log     *testutil.SyncBuffer
}

const miniBrowser = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"

// webkitScriptTimeout is the WebKit session's script timeout (see startWebKit).
const webkitScriptTimeout = 3 * time.Second

func startWebKit(t *testing.T) browser {
	driver, err := exec.LookPath("WebKitWebDriver")
	if err != nil {
		t.Fatalf("WebKitWebDriver not found (apt-get install webkit2gtk-driver; .ci/run does): %v", err)
	}
	if _, err := os.Stat(miniBrowser); err != nil {
		t.Fatalf("MiniBrowser of libwebkit2gtk-4.1-0 not found: %v", err)
	}
	display := mustXvfb(t)
	addr := testutil.MustFreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(driver, "--port="+port, "--host=127.0.0.1")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	w := &webkit{log: &testutil.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = w.log, w.log
	p := testutil.MustStart(t, cmd) // MiniBrowser and its web processes go with it
	c := &webdriver.Client{Base: "http://" + addr, Timeout: commandTimeout}
	t.Cleanup(func() {
		if w.s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			w.s.Delete(ctx)
			cancel()
		}
		p.Stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("WebKitWebDriver output:\n%s", w.log.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.BrowserStartTimeout)
	defer cancel()
	if err := c.WaitReady(ctx, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, w.log.String())
	}
	w.s, err = c.NewSession(ctx, map[string]any{
		"browserName": "MiniBrowser",
		// A script run while the page goes back in history can be lost with the page
		// WebKit freezes into its back-forward cache: its answer never comes, and the
		// driver, which runs a session's commands one at a time, holds every later one
		// behind it until the script timeout (30 s by default, a whole waitEval). A short
		// one fails the lost command soon and lets the wait retry; the tests' scripts
		// return at once. The driver's own page-load timeout (300 s by default) must end
		// before the client's deadline for the same reason.
		"timeouts": map[string]any{
			"script":   webkitScriptTimeout.Milliseconds(),
			"pageLoad": (commandTimeout - 5*time.Second).Milliseconds(),
		},
		"webkitgtk:browserOptions": map[string]any{
			"binary": miniBrowser,
			"args":   []string{"--automation"},
		},
	})
	if err != nil {
		t.Fatalf("WebKit session: %v\n%s", err, w.log.String())
	}
	v, _ := w.s.Capabilities["browserVersion"].(string)
	w.version = "WebKitGTK " + v
	return w
}

// mustXvfb starts an X server of its own for the test (WebKitGTK has no headless mode) and
// returns its display, e.g. ":93"; Xvfb picks a free display number itself.
func mustXvfb(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Fatalf("Xvfb not found (apt-get install xvfb; .ci/run does): %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	p := testutil.MustStart(t, cmd)
	w.Close()
	// SIGTERM first: Xvfb then removes its lock file and socket.
	t.Cleanup(func() { p.Stop(syscall.SIGTERM, 5*time.Second) })
	num := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		num <- strings.TrimSpace(line)
	}()
	select {
	case n := <-num:
		if _, err := strconv.Atoi(n); err != nil {
			t.Fatalf("Xvfb gave display %q: %s", n, log.String())
		}
		return ":" + n
	case <-time.After(15 * time.Second):
		t.Fatalf("Xvfb gave no display in 15 s: %s", log.String())
	}
	return ""
}

// do runs one driver command with its deadline.
func (w *webkit) do(f func(ctx context.Context) error) error {
	ctx, cancel, err := w.deadlines.ctx(context.Background())
	if err != nil {
		return err
	}
	defer cancel()
	return f(ctx)
}

func (w *webkit) Goto(url string) error {
	return w.do(func(ctx context.Context) error { return w.s.Navigate(ctx, url) })
}

func (w *webkit) Eval(expr string, out any) error {
	return w.do(func(ctx context.Context) error { return w.s.Execute(ctx, "return ("+expr+");", out) })
}

func (w *webkit) NewTab(bool) error {
	return w.do(func(ctx context.Context) error {
		old, err := w.s.WindowHandle(ctx)
		if err != nil {
			return err
		}
		h, err := w.s.NewTab(ctx)
		if err != nil {
			return err
		}
		if err := w.s.SwitchTo(ctx, old); err != nil {
			return err
		}
		if err := w.s.CloseWindow(ctx); err != nil {
			return err
		}
		return w.s.SwitchTo(ctx, h)
	})
}

func (w *webkit) Back() error { return w.Eval(historyBack, nil) }

func (w *webkit) Diagnose() string { return diagnose(w, w.log.String()) }

func (w *webkit) Version() string { return w.version }
