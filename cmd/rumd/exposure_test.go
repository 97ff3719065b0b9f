package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveFor runs `rumd serve` in process on 127.0.0.1 with args and returns its base URL; it
// stops when the test ends.
func serveFor(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := loadConfig(append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--geoip", "none"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, slog.New(slog.DiscardHandler), cfg, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30 s")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start within 30 s")
	}
	return ""
}

func fetch(t *testing.T, method, url, token string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestAnswersCarrySecurityHeaders checks nosniff on every kind of answer (ingest, refusals,
// the API, Graphite, errors) and the locked-down policy on SVG graphs, which are served on
// the origin whose localStorage holds the token.
func TestAnswersCarrySecurityHeaders(t *testing.T) {
	const token = "s3cret-token-0123456789"
	base := serveFor(t, "--token", token)
	for _, tc := range []struct {
		method, path, token string
		status              int
		svg                 bool
	}{
		{"POST", "/timings", "", 400, false},
		{"GET", "/healthz", "", 200, false},
		{"GET", "/rumd.js", "", 200, false},
		{"GET", "/api/v1/labels", "", 401, false},
		{"GET", "/api/v1/labels", token, 200, false},
		{"GET", "/render?target=rumd.total.ttfb.p50&from=-10min&format=json", token, 200, false},
		{"GET", "/render?target=rumd.total.ttfb.p50&from=-10min&format=png", token, 200, false},
		{"GET", "/render?target=rumd.total.ttfb.p50&from=-10min&format=svg", token, 200, true},
		{"GET", "/no-such-page", token, 404, false},
	} {
		resp := fetch(t, tc.method, base+tc.path, tc.token, []byte("{"))
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", tc.method, tc.path, got)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if tc.svg {
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/svg+xml") {
				t.Fatalf("%s: content type %q", tc.path, resp.Header.Get("Content-Type"))
			}
			for _, want := range []string{"default-src 'none'", "sandbox"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: Content-Security-Policy %q lacks %s", tc.path, csp, want)
				}
			}
		}
	}
}

// TestRUMMetricsNeedATokenWithRealFlags checks the wiring of --token and --scrape-token:
// /metrics/rum is closed with a token even without --metrics-token, the scrape token opens
// it and /metrics, and nothing else.
func TestRUMMetricsNeedATokenWithRealFlags(t *testing.T) {
	const token, scrape = "s3cret-token-0123456789", "scrape-token-0123456789"
	base := serveFor(t, "--token", token, "--scrape-token", scrape)
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/metrics/rum", "", 401},
		{"/metrics/rum", token, 200},
		{"/metrics/rum", scrape, 200},
		{"/metrics", "", 200},
		{"/api/v1/labels", scrape, 401},
		{"/render?target=rumd.total.ttfb.p50&format=json", scrape, 401},
	} {
		if got := fetch(t, "GET", base+tc.path, tc.token, nil).StatusCode; got != tc.want {
			t.Errorf("GET %s (token %q): %d, want %d", tc.path, tc.token, got, tc.want)
		}
	}
	if _, err := loadConfig([]string{"--scrape-token", scrape}); err == nil || !strings.Contains(err.Error(), "scrape_token") {
		t.Errorf("a scrape token without a token: %v, want an error naming scrape_token", err)
	}
}

func TestWarnOpenReadAPI(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 8080} }
	for _, tc := range []struct {
		addr  net.Addr
		token string
		warn  bool
	}{
		{tcp("0.0.0.0"), "", true},
		{tcp("::"), "", true},
		{tcp("192.0.2.10"), "", true},
		{tcp("2001:db8::1"), "", true},
		{tcp("127.0.0.1"), "", false},
		{tcp("::1"), "", false},
		{tcp("0.0.0.0"), "s3cret-token-0123456789", false},
	} {
		var buf bytes.Buffer
		warnOpenReadAPI(slog.New(slog.NewJSONHandler(&buf, nil)), tc.addr, tc.token)
		if got := strings.Contains(buf.String(), "read API") && strings.Contains(buf.String(), "--token"); got != tc.warn {
			t.Errorf("%s token=%q: warned %v, want %v: %s", tc.addr, tc.token, got, tc.warn, buf.String())
		}
	}
	// serve calls it: on loopback, with no token, nothing is said.
	if logs := serveLogged(t, t.TempDir(), "--geoip", "none"); strings.Contains(logs, "read API") {
		t.Errorf("warned on loopback:\n%s", logs)
	}
}
