package beaconjs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// defaultsMarker is the free identifier src/rumd.js reads its baked-in defaults from; Mount
// replaces it in the built script with a JSON object literal.
const defaultsMarker = "__RUMD_DEFAULTS__"

// snippetCacheControl lets browsers and CDNs keep /rumd.js for ten minutes, then revalidate
// it by ETag: a config change or an upgrade of rumd reaches every site within that time.
const snippetCacheControl = "public, max-age=600"

// snippet is /rumd.js with its config baked in, in both the encodings rumd serves.
type snippet struct {
	plain, gz         []byte
	plainTag, gzipTag string
}

// page is an HTML page split around its config, so a per-request config costs one join.
type page struct {
	head, tail []byte
	csp        string
}

// Mount registers GET /rumd.js, GET /test and GET /test/embed on r. It fails when opts do
// not validate or the embedded build is broken. With experiments configured, each request
// of a test page gets an arm of ?experiment= (default the first), picked by weight unless
// ?variant= forces one; a name that matches nothing configured is a 404 saying so.
func Mount(r fiber.Router, opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("beacon-js options: %w", err)
	}
	snip, err := buildSnippet(opts)
	if err != nil {
		return err
	}
	test, err := buildPage("src/test.html", "dist/testpage.js")
	if err != nil {
		return err
	}
	embed, err := buildPage("src/embed.html", "dist/embed.js")
	if err != nil {
		return err
	}
	// Each page view gets its own config: its experiment arm is picked per request.
	servePage := func(c *fiber.Ctx, p *page, sample float64) error {
		arm, err := assign(opts.Experiments, c.Query("experiment"), c.Query("variant"), rand.Float64())
		if err != nil {
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Status(fiber.StatusNotFound).SendString(err.Error())
		}
		cfg, err := pageConfig(opts, sample, arm)
		if err != nil {
			return err
		}
		return p.serve(c, cfg)
	}
	r.Get("/rumd.js", snip.serve)
	r.Get("/test", func(c *fiber.Ctx) error {
		return servePage(c, test, -1)
	})
	r.Get("/test/embed", func(c *fiber.Ctx) error {
		return servePage(c, embed, embedSample(c.Query("sample"), opts.EmbedMaxSample))
	})
	return nil
}

func buildSnippet(opts Options) (*snippet, error) {
	src, err := files.ReadFile("dist/rumd.js")
	if err != nil {
		return nil, fmt.Errorf("read embedded snippet: %w", err)
	}
	if n := bytes.Count(src, []byte(defaultsMarker)); n != 1 {
		return nil, fmt.Errorf("embedded snippet holds %s %d times, want once: rebuild with go generate", defaultsMarker, n)
	}
	defaults, err := json.Marshal(struct {
		Endpoint string  `json:"endpoint"`
		Sample   float64 `json:"sample"`
	}{opts.Endpoint, opts.SampleRate})
	if err != nil {
		return nil, fmt.Errorf("encode snippet defaults: %w", err)
	}
	lit := append(append([]byte("("), defaults...), ')')
	s := &snippet{plain: bytes.Replace(src, []byte(defaultsMarker), lit, 1)}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(s.plain)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress snippet: %w", err)
	}
	s.gz = buf.Bytes()
	sum := sha256.Sum256(s.plain)
	tag := hex.EncodeToString(sum[:12])
	s.plainTag = `"` + tag + `"`
	s.gzipTag = `"` + tag + `-gz"`
	return s, nil
}

func (s *snippet) serve(c *fiber.Ctx) error {
	body, tag := s.plain, s.plainTag
	gz := acceptsGzip(c.Get(fiber.HeaderAcceptEncoding))
	if gz {
		body, tag = s.gz, s.gzipTag
	}
	c.Set(fiber.HeaderCacheControl, snippetCacheControl)
	c.Set(fiber.HeaderETag, tag)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), tag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	if gz {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	return c.Send(body)
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip (q=0 refuses it).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		_, q, found := strings.Cut(strings.ReplaceAll(params, " ", ""), "q=")
		if !found {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

// etagMatches applies If-None-Match's weak comparison: a listed tag or "*" matches.
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

func buildPage(htmlPath, scriptPath string) (*page, error) {
	html, err := files.ReadFile(htmlPath)
	if err != nil {
		return nil, fmt.Errorf("read embedded %s: %w", htmlPath, err)
	}
	script, err := files.ReadFile(scriptPath)
	if err != nil {
		return nil, fmt.Errorf("read embedded %s: %w", scriptPath, err)
	}
	if bytes.Contains(bytes.ToLower(script), []byte("</script")) {
		return nil, fmt.Errorf("%s cannot be inlined: it contains </script", scriptPath)
	}
	head, rest, ok := bytes.Cut(html, []byte("{{config}}"))
	if !ok || !bytes.Contains(rest, []byte("{{script}}")) {
		return nil, fmt.Errorf("%s lacks its {{config}} or {{script}} marker", htmlPath)
	}
	sum := sha256.Sum256(script)
	return &page{
		head: head,
		tail: bytes.Replace(rest, []byte("{{script}}"), script, 1),
		// Only the page's own inline script runs; probes and beacons may go to any host.
		csp: "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; style-src 'unsafe-inline'; img-src data:; connect-src *; base-uri 'none'; form-action 'none'",
	}, nil
}

func (p *page) serve(c *fiber.Ctx, config []byte) error {
	// Every visit must measure a real load from the network, never a cached copy.
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, p.csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	body := make([]byte, 0, len(p.head)+len(config)+len(p.tail))
	body = append(append(append(body, p.head...), config...), p.tail...)
	return c.Send(body)
}

// pageConfig is the JSON a test page reads: the probes to run (the global ones, then those
// of the page view's experiment arm, if any) and the arm; sample < 0 leaves the sample rate
// out. json.Marshal escapes <, > and &, so the result is safe inside a script element.
func pageConfig(opts Options, sample float64, arm *assignment) ([]byte, error) {
	type jsProbe struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	ps := []jsProbe{}
	for _, p := range opts.Probes {
		ps = append(ps, jsProbe(p))
	}
	if arm != nil {
		for _, p := range arm.probes {
			ps = append(ps, jsProbe(p))
		}
	}
	cfg := struct {
		Endpoint   string      `json:"endpoint"`
		Probes     []jsProbe   `json:"probes"`
		Sample     *float64    `json:"sample,omitempty"`
		Experiment *assignment `json:"experiment,omitempty"`
	}{Endpoint: opts.Endpoint, Probes: ps, Experiment: arm}
	if sample >= 0 {
		cfg.Sample = &sample
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode test page config: %w", err)
	}
	return b, nil
}

// embedSample is the iframe's sample rate: the ?sample= percentage, capped by the ceiling;
// a missing or unreadable value means the ceiling.
func embedSample(q string, ceiling float64) float64 {
	v, err := strconv.ParseFloat(q, 64)
	if err != nil || v != v || v > ceiling {
		return ceiling
	}
	return max(v, 0)
}
