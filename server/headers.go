package server

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

// svgCSP is the Content-Security-Policy of SVG answers. A graph is served on the origin
// whose localStorage holds the token (the home page keeps it there), and an SVG opened as a
// document can run script: it may load nothing, run nothing, and is sandboxed; its inline
// styles still apply.
const svgCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// securityHeaders tells browsers not to guess a content type (a CSV or JSON answer with a
// label from outside must not be read as HTML), on every answer, and locks SVG answers down.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	err := c.Next()
	if bytes.HasPrefix(c.Response().Header.ContentType(), []byte("image/svg+xml")) {
		c.Set(fiber.HeaderContentSecurityPolicy, svgCSP)
	}
	return err
}
