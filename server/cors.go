package server

import (
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// corsPolicy answers browsers posting beacons from the site's own origin. A refusal (413,
// 429, 503) carries the same headers, or the browser reports a CORS error instead of it.
type corsPolicy struct {
	any     bool
	allowed map[string]bool
}

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
	origin := c.Get(fiber.HeaderOrigin)
	switch {
	case p.any:
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	case origin != "" && p.allowed[origin]:
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Vary(fiber.HeaderOrigin)
	case origin != "":
		return false
	}
	c.Set(fiber.HeaderAccessControlExposeHeaders, "Retry-After")
	return true
}

func (s *Server) preflight(c *fiber.Ctx) error {
	if !s.cors.apply(c) {
		s.m.refused.WithLabelValues("forbidden_origin").Inc()
		return c.SendStatus(fiber.StatusForbidden)
	}
	if c.Path() == s.opts.BoomerangPath {
		c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, OPTIONS")
	} else {
		c.Set(fiber.HeaderAccessControlAllowMethods, "POST, OPTIONS")
	}
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type")
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// authorize requires the bearer token, when one is configured, on everything that is not
// public by nature: ingest, the snippet, the test pages and the health endpoints stay open
// (and /metrics unless MetricsToken).
func (s *Server) authorize(c *fiber.Ctx) error {
	if s.opts.Token == "" || s.public(c.Path()) || s.opts.PublicGraphs && publicGraph(c) {
		return c.Next()
	}
	auth := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.Token)) == 1 {
		return c.Next()
	}
	s.m.refused.WithLabelValues("unauthorized").Inc()
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="rumd"`)
	return c.Status(fiber.StatusUnauthorized).JSON(apiError{Error: "this endpoint needs Authorization: Bearer <token>", Reason: "unauthorized"})
}

func (s *Server) public(path string) bool {
	switch path {
	case s.opts.IngestPath, s.opts.BoomerangPath, "/rumd.js", "/test", "/test/", "/test/embed", "/healthz", "/readyz",
		"/", "/home.js", "/home.css": // the home page asks for the token itself

		return true
	case "/metrics", s.opts.RUMMetricsPath:
		return !s.opts.MetricsToken
	}
	return false
}
