package server

import (
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// corsPolicy answers browsers posting beacons from the site's own origin. A refusal (413,
// 429, 503) carries the same headers, or the browser reports a CORS error instead of it.
// Header names and fixed values are built once: they are set on every beacon.
type corsPolicy struct {
	any     bool
	allowed map[string]bool
}

var (
	hAllowOrigin   = []byte(fiber.HeaderAccessControlAllowOrigin)
	hExposeHeaders = []byte(fiber.HeaderAccessControlExposeHeaders)
	vAnyOrigin     = []byte("*")
	vRetryAfter    = []byte(fiber.HeaderRetryAfter)
)

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{allowed: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.allowed[o] = true
	}
	return p
}

func (p corsPolicy) apply(c *fiber.Ctx) bool {
	h := &c.Response().Header
	switch {
	case p.any:
		h.SetCanonical(hAllowOrigin, vAnyOrigin)
	default:
		origin := c.Request().Header.Peek(fiber.HeaderOrigin)
		switch {
		case len(origin) > 0 && p.allowed[string(origin)]:
			h.SetCanonical(hAllowOrigin, origin)
			c.Vary(fiber.HeaderOrigin)
		case len(origin) > 0:
			return false
		}
	}
	h.SetCanonical(hExposeHeaders, vRetryAfter)
	return true
}

func (s *Server) preflight(c *fiber.Ctx) error {
	if !s.cors.apply(c) {
		s.m.refused.WithLabelValues("forbidden_origin").Inc()
		return c.SendStatus(fiber.StatusForbidden)
	}
	allowHeaders := fiber.HeaderContentType
	if e := s.endpointAt(c.Path()); e != nil {
		c.Set(fiber.HeaderAccessControlAllowMethods, e.allow)
		allowHeaders = e.allowHeaders
	}
	c.Set(fiber.HeaderAccessControlAllowHeaders, allowHeaders)
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// authorize requires the bearer token, when one is configured, on everything that is not
// public by nature: ingest, the snippet, the test pages and the health endpoints stay open
// (and /metrics unless MetricsToken). The RUM exposition is every page, variant and country
// of the site, so it always needs a token: the token, or the scrape token, which opens
// /metrics and the RUM exposition and nothing else, for a Prometheus that must not read the
// query API.
func (s *Server) authorize(c *fiber.Ctx) error {
	if s.opts.Token == "" || s.public(c.Path()) || s.opts.PublicGraphs && publicGraph(c) {
		return c.Next()
	}
	auth := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if ok && (tokenIs(token, s.opts.Token) || s.opts.ScrapeToken != "" && s.scrapePath(c.Path()) && tokenIs(token, s.opts.ScrapeToken)) {
		return c.Next()
	}
	s.m.refused.WithLabelValues("unauthorized").Inc()
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="rumd"`)
	return c.Status(fiber.StatusUnauthorized).JSON(apiError{Error: "this endpoint needs Authorization: Bearer <token>", Reason: "unauthorized"})
}

func tokenIs(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) scrapePath(path string) bool {
	return path == "/metrics" || path == s.opts.RUMMetricsPath
}

func (s *Server) public(path string) bool {
	if s.endpointAt(path) != nil {
		return true
	}
	switch path {
	case "/rumd.js", "/test", "/test/", "/test/embed", "/healthz", "/readyz",
		"/", "/home.js", "/home.css": // the home page asks for the token itself

		return true
	case "/metrics":
		return !s.opts.MetricsToken
	}
	return false
}
