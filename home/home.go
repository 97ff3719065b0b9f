// Package home serves rumd's own overview page at / (charts, tables, live state and a
// getting-started guide) and the small JSON status endpoint it reads, /api/v1/status. The
// page is a static bundle: it reads only rumd's public JSON API from the browser, so what it
// shows is what any API client gets. Its script and style sheet are bundled from src/ by
// `go generate` into dist/, committed, and embedded in the binary. See docs/home.md.
package home

//go:generate go run ./build

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed src/index.html dist/home.js dist/home.css
var files embed.FS

// Options configures the home page.
type Options struct {
	// Version and Commit name the running build in the page's footer.
	Version, Commit string
	// IngestPath is where the snippet posts beacons, shown in the getting-started guide.
	IngestPath string
}

// DefaultOptions returns the options of a rumd with nothing configured.
func DefaultOptions() Options {
	return Options{Version: "dev", Commit: "unknown", IngestPath: "/timings"}
}

// Validate checks the options.
func (o Options) Validate() error {
	if !strings.HasPrefix(o.IngestPath, "/") {
		return fmt.Errorf("home: ingest path %q must start with /", o.IngestPath)
	}
	return nil
}

// asset is one embedded file served with a validator.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

func newAsset(name, ctype string, subst map[string]string) (*asset, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	for k, v := range subst {
		b = []byte(strings.ReplaceAll(string(b), k, v))
	}
	sum := sha256.Sum256(b)
	return &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}, nil
}

func (a *asset) serve(c *fiber.Ctx) error {
	c.Set(fiber.HeaderETag, a.etag)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, a.ctype)
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(a.body)
}

// Mount registers GET / (the page), GET /home.js, GET /home.css and GET /api/v1/status on r.
// g is the registry rumd's components count on; the status endpoint reads it in process.
func Mount(r fiber.Router, g prometheus.Gatherer, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	if g == nil {
		return errors.New("home: needs the metrics registry")
	}
	page, err := newAsset("src/index.html", "text/html; charset=utf-8", map[string]string{
		"{{VERSION}}": htmlEscape(opts.Version), "{{COMMIT}}": htmlEscape(shortCommit(opts.Commit)), "{{INGEST}}": htmlEscape(opts.IngestPath),
	})
	if err != nil {
		return err
	}
	js, err := newAsset("dist/home.js", "text/javascript; charset=utf-8", nil)
	if err != nil {
		return err
	}
	css, err := newAsset("dist/home.css", "text/css; charset=utf-8", nil)
	if err != nil {
		return err
	}
	st := newStatus(g)
	r.Get("/", func(c *fiber.Ctx) error {
		// A page that shows data from an authenticated API must not be framed by others.
		c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		return page.serve(c)
	})
	r.Get("/home.js", js.serve)
	r.Get("/home.css", css.serve)
	r.Get("/api/v1/status", st.handle)
	return nil
}

// shortCommit keeps the 12 hex digits a person compares, and a -dirty suffix.
func shortCommit(c string) string {
	if h, dirty := strings.CutSuffix(c, "-dirty"); len(h) > 12 {
		if dirty {
			return h[:12] + "-dirty"
		}
		return h[:12]
	}
	return c
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }
