package graphite

import (
	"bytes"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/query"
)

// lockedBuffer is a log sink written by the server's goroutines and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestQueryLayerErrors: the Graphite API answers through the query layer: its timeout
// bounds every endpoint that reads data (503 timeout, logged with the endpoint), and its
// refusals have the JSON API's body. The same requests to a server with the default
// timeout are the control.
// mustServe serves the Graphite API of eng over HTTP on 127.0.0.1 until the test ends.
func mustServe(t testing.TB, eng *query.Engine, opts Options) *env {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := Mount(app, eng, opts); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return &env{base: "http://" + ln.Addr().String()}
}

func TestQueryLayerErrors(t *testing.T) {
	e := standardEnvSmall(t)
	var logged lockedBuffer
	qo := query.DefaultOptions()
	qo.Timeout = time.Nanosecond
	eng, err := query.New(slog.New(slog.NewTextHandler(&logged, nil)), nil, e.store, e.agg, qo)
	if err != nil {
		t.Fatal(err)
	}
	slow := mustServe(t, eng, e.h.opts)

	for _, tc := range []struct {
		path string
		q    url.Values
	}{
		{"/render", url.Values{"target": {"rumd.total.ttfb.p75"}, "from": {"-1h"}}},
		{"/metrics/find", url.Values{"query": {"rumd.country.*"}}},
		{"/metrics/expand", url.Values{"query": {"rumd.country.*.ttfb.p75"}}},
		{"/tags/autoComplete/values", url.Values{"tag": {"country"}}},
	} {
		var body query.ErrorBody
		if code := slow.get(t, tc.path, tc.q, &body); code != 503 || body.Reason != query.Timeout {
			t.Errorf("%s with a 1 ns budget: %d %+v, want 503 timeout", tc.path, code, body)
		}
		if !strings.Contains(logged.String(), "endpoint="+tc.path) {
			t.Errorf("%s: timeout not logged: %s", tc.path, logged.String())
		}
		if code := e.get(t, tc.path, tc.q, nil); code != 200 {
			t.Errorf("%s with the default budget: %d", tc.path, code)
		}
	}
	before := logged.String()
	var body query.ErrorBody
	if code := slow.get(t, "/render", url.Values{"target": {"rumd.total.ttfb"}}, &body); code != 400 || body.Reason != query.BadPath || body.Error == "" {
		t.Fatalf("bad path: %d %+v", code, body)
	}
	if logged.String() != before {
		t.Fatalf("a caller's mistake was logged: %s", strings.TrimPrefix(logged.String(), before))
	}
}
