package server

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"rumd/query"
)

// readLimited reports whether a path is one of the reads that cost rumd work per request
// (the JSON query API, the Graphite API's data and find endpoints, the native-histogram
// exposition) and so take a token from the reader's bucket. Ingest has its own limiter;
// the snippet, test pages, dashboards, health and /metrics cost next to nothing.
func (s *Server) readLimited(path string) bool {
	switch path {
	case "/render", "/metrics/find", "/metrics/expand", s.opts.RUMMetricsPath:
		return true
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/tags/")
}

// limitReads refuses a read with 429, reason rate_limited and a Retry-After once its
// client (the address behind trusted proxies, as for beacons) has spent its bucket. It
// runs before the token check, so a flood of unauthorised reads is refused as cheaply.
func (s *Server) limitReads(c *fiber.Ctx) error {
	if s.readLim == nil || !s.readLimited(c.Path()) {
		return c.Next()
	}
	var peer netip.Addr
	if ip := c.Context().RemoteIP(); ip != nil {
		peer, _ = netip.AddrFromSlice(ip)
	}
	addr := s.deps.Pipeline.Enricher().ClientAddr(peer, forwardedFor(c))
	if ok, wait := s.readLim.Allow(addr, s.deps.Now()); !ok {
		return s.queryError(c, "read", &query.Error{Reason: query.RateLimited, RetryAfter: wait,
			Msg: "too many reads from this client; retry later"})
	}
	return c.Next()
}
