package server

import (
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
		return c.SendStatus(fiber.StatusForbidden)
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "POST, OPTIONS")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type")
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}
