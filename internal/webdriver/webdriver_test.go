package webdriver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rumd/internal/webdriver"
)

// TestCommandDeadline runs commands against a driver on 127.0.0.1 that opens a session and
// then never answers, as WebKitWebDriver did to a script run after a history.back(): each
// must fail within the client's per-command deadline, naming the command, even with a
// context without one.
func TestCommandDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/session" {
			w.Write([]byte(`{"value":{"sessionId":"stuck","capabilities":{}}}`))
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handlers

	c := &webdriver.Client{Base: srv.URL, Timeout: 200 * time.Millisecond}
	s, err := c.NewSession(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		call       func(ctx context.Context) error
	}{
		{"execute", "POST /session/stuck/execute/sync", func(ctx context.Context) error { return s.Execute(ctx, "return 1", nil) }},
		{"back", "POST /session/stuck/back", func(ctx context.Context) error { return s.Back(ctx) }},
		{"status", "GET /status", func(ctx context.Context) error { _, err := c.Ready(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errc := make(chan error, 1)
			start := time.Now()
			go func() { errc <- tc.call(context.Background()) }()
			select {
			case err := <-errc:
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "no answer within 200ms") {
					t.Errorf("error %v after %v: want %q with no answer within 200ms", err, time.Since(start), tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s did not return within 20 s against a driver that never answers", tc.want)
			}
		})
	}
}
