// Package webdriver is a small client of the classic W3C WebDriver protocol (JSON over HTTP),
// enough for beacon-js's browser tests to drive WebKitGTK through WebKitWebDriver, which
// speaks no WebDriver BiDi: open a session, load pages, run scripts, go back, open tabs.
// It talks only to the driver address it is given (a loopback port in the tests).
package webdriver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Error is an error answer of the driver: its WebDriver error code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("webdriver: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// DefaultTimeout bounds each command when Client.Timeout is zero: a driver that never
// answers (WebKitWebDriver after some history.back()) must fail the command, not hang it.
const DefaultTimeout = 60 * time.Second

// Client talks to one driver at Base, e.g. "http://127.0.0.1:4444".
type Client struct {
	Base string
	HTTP *http.Client
	// Timeout bounds each command, whatever the context's own deadline (zero:
	// DefaultTimeout).
	Timeout time.Duration
}

// Session is one browser session of a driver.
type Session struct {
	c  *Client
	ID string
	// Capabilities are the ones the driver matched, e.g. browserName and browserVersion.
	Capabilities map[string]any
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	d := c.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("webdriver: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, body)
	if err != nil {
		return fmt.Errorf("webdriver: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("webdriver: %s %s: no answer within %v: %w", method, path, d, err)
		}
		return fmt.Errorf("webdriver: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("webdriver: read answer to %s %s (deadline %v): %w", method, path, d, err)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("webdriver: %s %s: HTTP %d, not JSON: %.200s", method, path, res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		return &Error{Status: res.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Value, out); err != nil {
		return fmt.Errorf("webdriver: decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Ready reports whether the driver says it can open a session now.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	var st struct {
		Ready bool `json:"ready"`
	}
	if err := c.do(ctx, http.MethodGet, "/status", nil, &st); err != nil {
		return false, err
	}
	return st.Ready, nil
}

// WaitReady asks /status until the driver is ready, for at most d; the last error says why
// it was not.
func (c *Client) WaitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := c.Ready(ctx)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webdriver at %s not ready after %v (last error: %v)", c.Base, d, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NewSession opens a session with the given alwaysMatch capabilities.
func (c *Client) NewSession(ctx context.Context, alwaysMatch map[string]any) (*Session, error) {
	var out struct {
		SessionID    string         `json:"sessionId"`
		Capabilities map[string]any `json:"capabilities"`
	}
	in := map[string]any{"capabilities": map[string]any{"alwaysMatch": alwaysMatch}}
	if err := c.do(ctx, http.MethodPost, "/session", in, &out); err != nil {
		return nil, err
	}
	if out.SessionID == "" {
		return nil, fmt.Errorf("webdriver: new session answer has no sessionId")
	}
	return &Session{c: c, ID: out.SessionID, Capabilities: out.Capabilities}, nil
}

func (s *Session) path(p string) string { return "/session/" + s.ID + p }

// Delete ends the session and closes its browser.
func (s *Session) Delete(ctx context.Context) error {
	return s.c.do(ctx, http.MethodDelete, s.path(""), nil, nil)
}

// Navigate loads url and returns once the driver's page load strategy says it loaded
// (by default: the load event fired).
func (s *Session) Navigate(ctx context.Context, url string) error {
	return s.c.do(ctx, http.MethodPost, s.path("/url"), map[string]string{"url": url}, nil)
}

// URL returns the current page's URL.
func (s *Session) URL(ctx context.Context) (string, error) {
	var u string
	err := s.c.do(ctx, http.MethodGet, s.path("/url"), nil, &u)
	return u, err
}

// Back goes back in the session's history.
func (s *Session) Back(ctx context.Context) error {
	return s.c.do(ctx, http.MethodPost, s.path("/back"), map[string]any{}, nil)
}

// Execute runs script as the body of a function (use return) with args, waits for a
// promise it returns to settle, and decodes its JSON result into out (nil: discard).
func (s *Session) Execute(ctx context.Context, script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return s.c.do(ctx, http.MethodPost, s.path("/execute/sync"), map[string]any{"script": script, "args": args}, out)
}

// WindowHandle returns the handle of the current window (tab).
func (s *Session) WindowHandle(ctx context.Context) (string, error) {
	var h string
	err := s.c.do(ctx, http.MethodGet, s.path("/window"), nil, &h)
	return h, err
}

// NewTab opens a new tab and returns its handle; the current window does not change.
func (s *Session) NewTab(ctx context.Context) (string, error) {
	var out struct {
		Handle string `json:"handle"`
	}
	err := s.c.do(ctx, http.MethodPost, s.path("/window/new"), map[string]string{"type": "tab"}, &out)
	return out.Handle, err
}

// SwitchTo makes the window with handle h the current one.
func (s *Session) SwitchTo(ctx context.Context, h string) error {
	return s.c.do(ctx, http.MethodPost, s.path("/window"), map[string]string{"handle": h}, nil)
}

// CloseWindow closes the current window.
func (s *Session) CloseWindow(ctx context.Context) error {
	return s.c.do(ctx, http.MethodDelete, s.path("/window"), nil, nil)
}
