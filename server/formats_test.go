package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"rumd/ingest"
	"rumd/ingest/enrich"
	"rumd/internal/testutil"
	"rumd/server/ratelimit"
)

// formatSample is one good request of a format, sent with its first method that carries a
// body: what the registry-driven checks start from.
type formatSample struct {
	query string
	body  []byte
}

// formatSamples hold one good request per registered format; a new format adds its line.
var formatSamples = map[string]func(t *testing.T) formatSample{
	ingest.FormatV1: func(t *testing.T) formatSample {
		return formatSample{body: testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/questions/42", 300, 1800))}
	},
	ingest.FormatBoomerang: func(t *testing.T) formatSample {
		return formatSample{body: []byte(boomerangForm(t, "post-0-page_load.json").Encode())}
	},
}

const (
	browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
	botUA     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// formatLimit is the body limit every format gets in TestEveryFormat: below the largest
// default, so that the format's own limit, not only the server's read limit, is what refuses.
const formatLimit = 4096

// TestEveryFormat runs the checks every beacon format of the registry gets for free: its
// route answers a good request with the format's success, the CORS preflight, 413 over its
// own body limit, its refusal of a wrong content type or encoding, 429 with Retry-After when
// rate limited, and the bot refusal; every refusal carries the CORS headers and a reason.
func TestEveryFormat(t *testing.T) {
	for _, f := range ingest.Formats() {
		t.Run(f.Name, func(t *testing.T) {
			sample, ok := formatSamples[f.Name]
			if !ok {
				t.Fatalf("format %s has no line in formatSamples", f.Name)
			}
			path := "/in-" + f.Name
			ts := startServer(t, func(o *Options, _ *enrich.Options) {
				o.CORSOrigins = []string{"https://shop.example"}
				o.RateLimit = ratelimit.Options{PerAddr: 0.001, AddrBurst: 6, PerPrefix: 1000, PrefixBurst: 1000, MaxTracked: 100, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
				o.Formats[f.Name] = FormatOptions{Enabled: true, Path: path, BodyLimit: formatLimit}
			})
			method := f.Methods[len(f.Methods)-1] // POST where a format takes it
			s := sample(t)
			if len(s.body) >= formatLimit {
				t.Fatalf("sample of %d bytes is over the test's limit", len(s.body))
			}
			send := func(t *testing.T, method string, body []byte, hdr map[string]string) (int, http.Header, string) {
				t.Helper()
				target := ts.url + path
				if s.query != "" {
					target += "?" + s.query
				}
				req, err := http.NewRequest(method, target, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Origin", "https://shop.example")
				req.Header.Set("User-Agent", browserUA)
				if len(f.ContentTypes) > 0 && method != http.MethodOptions {
					req.Header.Set("Content-Type", f.ContentTypes[0])
				}
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				status, answer, b := do(t, req)
				return status, answer, string(b)
			}
			refused := func(t *testing.T, what string, wantStatus int, wantReason string, status int, hdr http.Header, body string) {
				t.Helper()
				if status != wantStatus || !strings.Contains(body, `"reason":"`+wantReason+`"`) || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" {
					t.Errorf("%s: %d %s (ACAO %q), want %d %s with the CORS headers", what, status, body, hdr.Get("Access-Control-Allow-Origin"), wantStatus, wantReason)
				}
			}

			// The route: a good request gets the format's success answer. (1 of the burst)
			if status, hdr, body := send(t, method, s.body, nil); status != f.Success.Status || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
				(f.Success.Body != nil && body != string(f.Success.Body)) {
				t.Fatalf("good request: %d %q (ACAO %q), want %d %q", status, body, hdr.Get("Access-Control-Allow-Origin"), f.Success.Status, f.Success.Body)
			}
			// The preflight names every method of the format (not rate limited).
			status, hdr, _ := send(t, http.MethodOptions, nil, map[string]string{"Access-Control-Request-Method": method})
			for _, m := range f.Methods {
				if status != http.StatusNoContent || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), m) || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" {
					t.Errorf("preflight: %d, methods %q, ACAO %q; want 204 allowing %s", status, hdr.Get("Access-Control-Allow-Methods"), hdr.Get("Access-Control-Allow-Origin"), m)
				}
			}
			if status, _, _ := send(t, http.MethodOptions, nil, map[string]string{"Origin": "https://evil.example"}); status != http.StatusForbidden {
				t.Errorf("preflight from a foreign origin: %d, want 403", status)
			}
			// Over the format's own limit (the server reads up to the largest). (2)
			big := append(bytes.Repeat([]byte(" "), formatLimit+1-len(s.body)), s.body...)
			status, hdr, body := send(t, method, big, nil)
			refused(t, "over the body limit", http.StatusRequestEntityTooLarge, "too_large", status, hdr, body)
			// A content type and an encoding the format does not take. (3, 4)
			media := f.MediaStatus
			if media == 0 {
				media = http.StatusBadRequest
			}
			status, hdr, body = send(t, method, s.body, map[string]string{"Content-Type": "image/png"})
			refused(t, "wrong content type", media, "malformed", status, hdr, body)
			status, hdr, body = send(t, method, s.body, map[string]string{"Content-Encoding": "br"})
			refused(t, "wrong content encoding", media, "malformed", status, hdr, body)
			// A bot is refused once the request is read. (5)
			status, hdr, body = send(t, method, s.body, map[string]string{"User-Agent": botUA})
			refused(t, "bot", http.StatusBadRequest, "bot", status, hdr, body)
			// The burst is spent: the next is rate limited. (6, then 7)
			if status, _, body := send(t, method, s.body, nil); status != f.Success.Status {
				t.Fatalf("last request of the burst: %d %s", status, body)
			}
			status, hdr, body = send(t, method, s.body, nil)
			refused(t, "over the rate limit", http.StatusTooManyRequests, "rate_limited", status, hdr, body)
			if hdr.Get("Retry-After") == "" || !strings.Contains(hdr.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("rate limited without a readable Retry-After: %q (exposed %q)", hdr.Get("Retry-After"), hdr.Get("Access-Control-Expose-Headers"))
			}
			// Every answer is counted by format and status.
			for code, want := range map[string]float64{"204": 2, "413": 1, "429": 1} {
				if code == "204" && f.Success.Status != http.StatusNoContent {
					continue
				}
				if got := testutil.MustMetric(t, ts.reg, "rumd_ingest_requests_total", "format", f.Name, "code", code); got != want {
					t.Errorf("rumd_ingest_requests_total{format=%q,code=%q} = %v, want %v", f.Name, code, got, want)
				}
			}
			// The default path of the format is not served once it moved.
			if status, _, _ := sendTo(t, ts.url+f.Path, method); status != http.StatusNotFound {
				t.Errorf("default path %s after the format moved: %d, want 404", f.Path, status)
			}
		})
	}
}

func sendTo(t *testing.T, target, method string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	status, hdr, b := do(t, req)
	return status, hdr, string(b)
}

// TestFormatOptions: every format's placement is checked, and an unknown format is named.
func TestFormatOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(o *Options)
		want string
	}{
		{"unknown format", func(o *Options) { o.Formats["faro"] = FormatOptions{Enabled: true, Path: "/collect", BodyLimit: 4096} }, `format "faro" is unknown`},
		{"shared path", func(o *Options) {
			o.Formats[ingest.FormatBoomerang] = FormatOptions{Enabled: true, Path: "/timings", BodyLimit: 4096}
		}, `is the`},
		{"small limit", func(o *Options) {
			o.Formats[ingest.FormatV1] = FormatOptions{Enabled: true, Path: "/timings", BodyLimit: 10}
		}, "body limit must be"},
		{"reserved path", func(o *Options) {
			o.Formats[ingest.FormatV1] = FormatOptions{Enabled: true, Path: "/metrics", BodyLimit: 4096}
		}, "collides"},
		{"rum metrics path", func(o *Options) { o.RUMMetricsPath = "/beacon" }, "rum metrics path"},
	} {
		o := DefaultOptions()
		tc.set(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	o := DefaultOptions()
	o.Formats[ingest.FormatV1] = FormatOptions{Enabled: false, Path: "/metrics", BodyLimit: 10}
	if err := o.Validate(); err != nil {
		t.Errorf("a format turned off is not checked: %v", err)
	}
}

// TestFormatChoosesItsAnswers registers, for this test, a format made of the real v1 decoder
// that answers as receivers of other formats do (202 "ok", 415 for a wrong content type) and
// takes an API key in its own header, and checks the server honours each choice.
func TestFormatChoosesItsAnswers(t *testing.T) {
	v1, _ := ingest.LookupFormat(ingest.FormatV1)
	keyed := v1
	keyed.Name, keyed.Path, keyed.AuthHeader, keyed.MediaStatus = "keyed", "/keyed", "X-Api-Key", http.StatusUnsupportedMediaType
	keyed.Success = ingest.Answer{Status: http.StatusAccepted, ContentType: "text/plain; charset=utf-8", Body: []byte("ok")}
	registry = func() []ingest.Format { return append(ingest.Formats(), keyed) }
	t.Cleanup(func() { registry = ingest.Formats })

	const key = "a-key-of-the-site"
	ts := startServer(t, func(o *Options, _ *enrich.Options) {
		o.Formats["keyed"] = FormatOptions{Enabled: true, Path: "/keyed", BodyLimit: 4096, APIKey: key}
	})
	body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "https://example.com/questions/42", 300, 1800))
	post := func(hdr map[string]string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ts.url+"/keyed", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", browserUA)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		status, answer, b := do(t, req)
		return status, answer, string(b)
	}
	if status, hdr, b := post(map[string]string{"X-Api-Key": key}); status != http.StatusAccepted || b != "ok" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("with its key: %d %q (%s), want 202 ok", status, b, hdr.Get("Content-Type"))
	}
	for name, hdr := range map[string]map[string]string{"no key": nil, "wrong key": {"X-Api-Key": key + "x"}} {
		if status, answer, b := post(hdr); status != http.StatusUnauthorized || !strings.Contains(b, `"reason":"unauthorized"`) || answer.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s: %d %s (ACAO %q), want 401 unauthorized with the CORS headers", name, status, b, answer.Get("Access-Control-Allow-Origin"))
		}
	}
	if status, _, b := post(map[string]string{"X-Api-Key": key, "Content-Type": "application/x-protobuf"}); status != http.StatusUnsupportedMediaType || !strings.Contains(b, `"reason":"malformed"`) {
		t.Errorf("protobuf body: %d %s, want 415 malformed", status, b)
	}
	req, _ := http.NewRequest(http.MethodOptions, ts.url+"/keyed", nil)
	req.Header.Set("Origin", "https://shop.example")
	if status, hdr, _ := do(t, req); status != http.StatusNoContent || !strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "X-Api-Key") {
		t.Errorf("preflight: %d, allowed headers %q, want X-Api-Key among them", status, hdr.Get("Access-Control-Allow-Headers"))
	}
	if got := testutil.MustMetric(t, ts.reg, "rumd_ingest_requests_total", "format", "keyed", "code", "401"); got != 2 {
		t.Errorf("rumd_ingest_requests_total{format=keyed,code=401} = %v, want 2", got)
	}
	// The v1 endpoint is unchanged beside it.
	if status, _, b := ts.boomerang(t, http.MethodPost, "/timings", "", string(body), map[string]string{"Content-Type": "text/plain"}); status != http.StatusNoContent {
		t.Errorf("v1 beside it: %d %s", status, b)
	}

	o := DefaultOptions()
	o.Formats[ingest.FormatV1] = FormatOptions{Enabled: true, Path: "/timings", BodyLimit: 4096, APIKey: key}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "API key") {
		t.Errorf("an API key for a format without an auth header: %v", err)
	}
}
