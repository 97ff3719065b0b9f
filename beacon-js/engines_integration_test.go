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
	t         *testing.T
	root, ctx context.Context
	version   string
}

func startChromium(t *testing.T) browser {
	ctx := mustBrowserAs(t, true)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return &chromium{t: t, root: ctx, ctx: ctx, version: v}
}

func (c *chromium) Goto(url string) error { return chromedp.Do(c.ctx, chromedp.Navigate(url)) }

func (c *chromium) Eval(expr string, out any) error {
	raw, err := chromedp.Run(c.ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
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
	if err := chromedp.Do(ctx); err != nil {
		return err
	}
	c.ctx = ctx
	return nil
}

func (c *chromium) Back() error { return c.Eval(historyBack, nil) }

func (c *chromium) Version() string { return c.version }

// historyBack goes back from the page, after the evaluation has returned.
const historyBack = `(setTimeout(() => history.back(), 0), true)`

// --- Firefox ---

// firefox is drive.mjs (beacon-js/firefox) running Firefox ESR: one JSON command per line.
type firefox struct {
	t       testing.TB
	mu      sync.Mutex
	in      io.WriteCloser
	lines   chan string
	seq     int
	version string
}

func startFirefox(t *testing.T) browser {
	bin, err := exec.LookPath("firefox-esr")
	if err != nil {
		t.Fatalf("firefox-esr not found (apt-get install firefox-esr; .ci/run does): %v", err)
	}
	if _, err := os.Stat("firefox/node_modules/puppeteer-core/package.json"); err != nil {
		t.Fatalf("puppeteer-core missing: run npm ci in beacon-js/firefox (make deps does): %v", err)
	}
	args := []string{"firefox/drive.mjs", "--firefox", bin, "--profile", t.TempDir()}
	cmd := exec.Command("node", args...)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Firefox and its children go with it
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start drive.mjs: %v", err)
	}
	f := &firefox{t: t, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		close(f.lines)
	}()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		f.call("quit", nil, nil)
		in.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("drive.mjs stderr:\n%s", stderr.String())
		}
	})
	if err := f.read(0, nil, 60*time.Second); err != nil {
		t.Fatalf("firefox did not start: %v\n%s", err, stderr.String())
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
		select {
		case line, ok := <-f.lines:
			if !ok {
				return fmt.Errorf("drive.mjs exited")
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
		case <-timeout:
			return fmt.Errorf("no answer from drive.mjs to command %d after %v", id, d)
		}
	}
}

func (f *firefox) call(op string, args map[string]any, out any) error {
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
	return f.read(f.seq, out, 45*time.Second)
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

// --- WebKit ---

// webkit is WebKitGTK's MiniBrowser behind WebKitWebDriver, on its own Xvfb display.
type webkit struct {
	s       *webdriver.Session
	version string
}

const miniBrowser = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"

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
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start WebKitWebDriver: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	ctx := context.Background()
	c := &webdriver.Client{Base: "http://" + addr}
	var s *webdriver.Session
	t.Cleanup(func() {
		if s != nil {
			s.Delete(ctx)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("WebKitWebDriver output:\n%s", log.String())
		}
	})
	if err := c.WaitReady(ctx, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	s, err = c.NewSession(ctx, map[string]any{
		"browserName": "MiniBrowser",
		"webkitgtk:browserOptions": map[string]any{
			"binary": miniBrowser,
			"args":   []string{"--automation"},
		},
	})
	if err != nil {
		t.Fatalf("WebKit session: %v\n%s", err, log.String())
	}
	v, _ := s.Capabilities["browserVersion"].(string)
	return &webkit{s: s, version: "WebKitGTK " + v}
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
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
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

func (w *webkit) Goto(url string) error { return w.s.Navigate(context.Background(), url) }

func (w *webkit) Eval(expr string, out any) error {
	return w.s.Execute(context.Background(), "return ("+expr+");", out)
}

func (w *webkit) NewTab(bool) error {
	ctx := context.Background()
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
}

func (w *webkit) Back() error { return w.Eval(historyBack, nil) }

func (w *webkit) Version() string { return w.version }
