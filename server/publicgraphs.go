package server

import "github.com/gofiber/fiber/v2"

// publicGraph reports whether c asks for a graph image: GET /render without a body whose
// format (the last one given, as the Graphite API reads it) is png, the default, or svg.
func publicGraph(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodGet || c.Path() != "/render" || len(c.Body()) > 0 {
		return false
	}
	format := ""
	if v := c.Context().QueryArgs().PeekMulti("format"); len(v) > 0 {
		format = string(v[len(v)-1])
	}
	return format == "" || format == "png" || format == "svg"
}
