package beaconjs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/gofiber/fiber/v2"
)

func mustApp(t *testing.T, opts Options) *fiber.App {
	t.Helper()
	app := fiber.New()
	if err := Mount(app, opts); err != nil {
		t.Fatal(err)
	}
	return app
}

func get(t *testing.T, app *fiber.App, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestSnippetServesBakedConfig(t *testing.T) {
	opts := DefaultOptions()
	opts.Endpoint = "/ingest/v1"
	opts.SampleRate = 12.5
	app := mustApp(t, opts)

	res, body := get(t, app, "/rumd.js")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	for h, want := range map[string]string{
		"Content-Type":  "text/javascript; charset=utf-8",
		"Cache-Control": snippetCacheControl,
		"Vary":          "Accept-Encoding",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !bytes.Contains(body, []byte(`({"endpoint":"/ingest/v1","sample":12.5})`)) {
		t.Errorf("config not baked in: %.200s", body)
	}
	if bytes.Contains(body, []byte(defaultsMarker)) {
		t.Error("marker left in served snippet")
	}
	// The baked script must still be valid JavaScript.
	if r := api.Transform(string(body), api.TransformOptions{}); len(r.Errors) > 0 {
		t.Errorf("served snippet does not parse: %v", r.Errors[0].Text)
	}

	tag := res.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(tag) {
		t.Fatalf("ETag %q", tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		res, body := get(t, app, "/rumd.js", "If-None-Match", inm)
		if res.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: status %d, %d body bytes; want 304 and none", inm, res.StatusCode, len(body))
		}
		if res.Header.Get("ETag") != tag {
			t.Errorf("304 lacks the ETag")
		}
	}
	if res, _ := get(t, app, "/rumd.js", "If-None-Match", `"stale"`); res.StatusCode != 200 {
		t.Errorf("stale If-None-Match: status %d, want 200", res.StatusCode)
	}

	// Another config is another representation: another ETag.
	opts.SampleRate = 50
	res2, _ := get(t, mustApp(t, opts), "/rumd.js")
	if res2.Header.Get("ETag") == tag {
		t.Error("ETag unchanged by a config change")
	}
}

func TestSnippetGzip(t *testing.T) {
	app := mustApp(t, DefaultOptions())
	_, plain := get(t, app, "/rumd.js")
	tests := []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0", false},
		{"deflate", false},
	}
	for _, tc := range tests {
		t.Run(tc.accept, func(t *testing.T) {
			res, body := get(t, app, "/rumd.js", "Accept-Encoding", tc.accept)
			isGzip := res.Header.Get("Content-Encoding") == "gzip"
			if isGzip != tc.gzip {
				t.Fatalf("Content-Encoding %q, want gzip=%v", res.Header.Get("Content-Encoding"), tc.gzip)
			}
			if !isGzip {
				if !bytes.Equal(body, plain) {
					t.Error("plain body differs")
				}
				return
			}
			if !strings.HasSuffix(res.Header.Get("ETag"), `-gz"`) {
				t.Errorf("gzip ETag %q shares the plain one", res.Header.Get("ETag"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("gzip body does not inflate to the plain one (err %v)", err)
			}
		})
	}
}

var configRE = regexp.MustCompile(`(?s)<script type="application/json" id="rumd-config">(.*?)</script>\s*<script>(.*?)</script>`)

type pageCfg struct {
	Endpoint string   `json:"endpoint"`
	Probes   []Probe  `json:"probes"`
	Sample   *float64 `json:"sample"`
}

// mustPage fetches a test page and returns its config and inline script, checking the
// headers every test page carries.
func mustPage(t *testing.T, app *fiber.App, target string) (pageCfg, string) {
	t.Helper()
	res, body := get(t, app, target)
	if res.StatusCode != 200 {
		t.Fatalf("%s: status %d", target, res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", target, cc)
	}
	m := configRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no config and script in %.300s", target, body)
	}
	var cfg pageCfg
	if err := json.Unmarshal(m[1], &cfg); err != nil {
		t.Fatalf("%s: config %q: %v", target, m[1], err)
	}
	sum := sha256.Sum256(m[2])
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Errorf("%s: CSP %q does not allow the inline script", target, csp)
	}
	if bytes.Contains(body, []byte("{{")) {
		t.Errorf("%s: a template marker is left", target)
	}
	return cfg, string(m[2])
}

func TestTestPage(t *testing.T) {
	opts := DefaultOptions()
	opts.Probes = []Probe{{"cdn-a", "https://a.example.net/p.gif"}, {"dns-b", "https://{rand}.b.example.net/p.gif"}}
	cfg, script := mustPage(t, mustApp(t, opts), "/test")
	if cfg.Endpoint != "/timings" || len(cfg.Probes) != 2 || cfg.Probes[1] != opts.Probes[1] || cfg.Sample != nil {
		t.Errorf("config %+v", cfg)
	}
	if !strings.Contains(script, "rumd-config") {
		t.Error("inline script is not the test page's")
	}
}

func TestEmbedSample(t *testing.T) {
	opts := DefaultOptions()
	opts.EmbedMaxSample = 20
	app := mustApp(t, opts)
	tests := []struct {
		query string
		want  float64
	}{
		{"", 20},
		{"?sample=5", 5},
		{"?sample=0.5", 0.5},
		{"?sample=20", 20},
		{"?sample=100", 20},
		{"?sample=-3", 0},
		{"?sample=abc", 20},
		{"?sample=NaN", 20},
		{"?sample=Inf", 20},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			cfg, _ := mustPage(t, app, "/test/embed"+tc.query)
			if cfg.Sample == nil || *cfg.Sample != tc.want {
				t.Errorf("sample = %v, want %v", cfg.Sample, tc.want)
			}
			if cfg.Probes == nil {
				t.Error("probes missing from config")
			}
		})
	}
}

func TestMountRejectsBadOptions(t *testing.T) {
	opts := DefaultOptions()
	opts.SampleRate = 300
	if err := Mount(fiber.New(), opts); err == nil {
		t.Error("Mount accepted a 300% sample rate")
	}
}

// armCfg is the experiment part of a test page's config.
type armCfg struct {
	Experiment *struct {
		Name     string   `json:"name"`
		Variant  string   `json:"variant"`
		Weight   float64  `json:"weight"`
		Total    float64  `json:"total"`
		Forced   bool     `json:"forced"`
		Variants []string `json:"variants"`
	} `json:"experiment"`
}

func TestTestPageExperiments(t *testing.T) {
	opts := DefaultOptions()
	opts.EmbedMaxSample = 100
	opts.Probes = []Probe{{"origin", "/probe.gif"}}
	opts.Experiments = []Experiment{cdnSwitch(), {"h3", []Variant{{"h2", 1, nil}, {"h3-on", 1, nil}}}}
	app := mustApp(t, opts)
	arm := func(target string) (pageCfg, armCfg) {
		t.Helper()
		res, body := get(t, app, target)
		m := configRE.FindSubmatch(body)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("%s: status %d, %.300s", target, res.StatusCode, body)
		}
		var cfg pageCfg
		var a armCfg
		if err := json.Unmarshal(m[1], &cfg); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(m[1], &a); err != nil || a.Experiment == nil {
			t.Fatalf("%s: experiment config %s (%v)", target, m[1], err)
		}
		return cfg, a
	}

	for _, path := range []string{"/test", "/test/embed"} {
		t.Run(path, func(t *testing.T) {
			mustPage(t, app, path) // the headers every test page carries
			// Weights 50/50: 200 page views all on one side would be a broken pick (p = 2^-199).
			seen := map[string]int{}
			for range 200 {
				cfg, a := arm(path)
				x := a.Experiment
				if x.Name != "cdn-switch" || x.Forced || x.Total != 100 || x.Weight != 50 || strings.Join(x.Variants, ",") != "cdn-a,cdn-b" {
					t.Fatalf("experiment %+v", x)
				}
				// The global probe first, then the arm's own.
				want := opts.Experiments[0].Variants[0].Probes[0]
				if x.Variant == "cdn-b" {
					want = opts.Experiments[0].Variants[1].Probes[0]
				}
				if len(cfg.Probes) != 2 || cfg.Probes[0] != opts.Probes[0] || cfg.Probes[1] != want {
					t.Fatalf("variant %s probes %+v, want origin then %+v", x.Variant, cfg.Probes, want)
				}
				seen[x.Variant]++
			}
			if seen["cdn-a"] == 0 || seen["cdn-b"] == 0 {
				t.Errorf("variants seen %v: want both", seen)
			}

			cfg, a := arm(path + "?variant=cdn-b&sample=100")
			if a.Experiment.Variant != "cdn-b" || !a.Experiment.Forced || len(cfg.Probes) != 2 {
				t.Errorf("forced cdn-b: %+v, probes %+v", a.Experiment, cfg.Probes)
			}
			cfg, a = arm(path + "?experiment=h3")
			if a.Experiment.Name != "h3" || len(cfg.Probes) != 1 {
				t.Errorf("experiment h3: %+v, probes %+v", a.Experiment, cfg.Probes)
			}

			for _, q := range []string{"?experiment=nope", "?variant=cdn-c", "?experiment=h3&variant=cdn-a"} {
				res, body := get(t, app, path+q)
				if res.StatusCode != 404 || !bytes.Contains(body, []byte("unknown experiment or variant")) {
					t.Errorf("%s%s: status %d %q, want 404 naming the mistake", path, q, res.StatusCode, body)
				}
			}
		})
	}

	// Without experiments, the page carries no experiment and refuses to force one.
	plain := mustApp(t, DefaultOptions())
	_, body := get(t, plain, "/test")
	if bytes.Contains(configRE.FindSubmatch(body)[1], []byte("experiment")) {
		t.Errorf("config without experiments mentions one: %s", configRE.FindSubmatch(body)[1])
	}
	if res, _ := get(t, plain, "/test?variant=cdn-a"); res.StatusCode != 404 {
		t.Errorf("?variant= without experiments: status %d, want 404", res.StatusCode)
	}
}
