package server

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"rumd/ingest"
	"rumd/ingest/beacon"
)

// boomerang takes one boomerang beacon: an image GET with the parameters in the query
// string, or a sendBeacon or XHR form POST (which may keep some parameters in the URL). It
// gets the CORS policy, rate limits, body limit and bot rule of the ingest path, and answers
// 204 to a beacon accepted or ignored (docs/boomerang.md).
func (s *Server) boomerang(c *fiber.Ctx) error {
	t0 := time.Now()
	defer func() { s.m.ingestSeconds.Observe(time.Since(t0).Seconds()) }()
	var cl ingest.Client
	recv, answered, err := s.admit(c, &cl, t0)
	if answered {
		return err
	}
	var body []byte
	if c.Method() == fiber.MethodPost {
		if ct := utils.UnsafeString(c.Request().Header.ContentType()); ct != "" && !formType(ct) {
			return s.reject(c, beacon.Malformed, "content type must be application/x-www-form-urlencoded or text/plain, got "+ct, false)
		}
		if r, detail := compressed(c); r != beacon.OK {
			return s.reject(c, r, detail, false)
		}
		body = c.Request().Body()
	}
	_, r, detail := s.deps.Pipeline.Boomerang(c.Request().URI().QueryString(), body, &cl, recv)
	if r != beacon.OK {
		return s.reject(c, r, detail, true)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// formType reports whether a Content-Type is one a boomerang POST carries: a form
// (sendBeacon with a Blob, or XHR) or plain text.
func formType(ct string) bool {
	return mediaTypeIs(ct, "application/x-www-form-urlencoded", "text/plain")
}
