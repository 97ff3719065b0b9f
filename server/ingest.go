package server

import (
	"mime"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"rumd/ingest"
	"rumd/ingest/beacon"
)

// BeaconStatus is the HTTP status that answers a beacon refused for r: the one place a Reason
// becomes a status. 204 for OK, 413 for too_large, 429 for rate_limited, 503 for overloaded
// and storage_full, and 400 for every data problem.
func BeaconStatus(r beacon.Reason) int {
	switch r {
	case beacon.OK:
		return fiber.StatusNoContent
	case beacon.TooLarge:
		return fiber.StatusRequestEntityTooLarge
	case beacon.RateLimited:
		return fiber.StatusTooManyRequests
	case beacon.Overloaded, beacon.StorageFull:
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusBadRequest
}

// reject answers a beacon refused before or by the pipeline: a status, a JSON body and (when
// counted is false) a count in rumd_beacons_rejected_total{reason}.
func (s *Server) reject(c *fiber.Ctx, r beacon.Reason, detail string, counted bool) error {
	if !counted {
		s.deps.Pipeline.Refuse(r)
	}
	s.refusedBeacon(c, r)
	if (BeaconStatus(r) == fiber.StatusServiceUnavailable || r == beacon.RateLimited) && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, retryAfter(s.opts.RetryAfter))
	}
	return c.Status(BeaconStatus(r)).JSON(apiError{Error: detail, Reason: r.String()})
}

// rejected is one refused element of a batch.
type rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

type batchAnswer struct {
	Accepted int        `json:"accepted"`
	Rejected []rejected `json:"rejected"`
}

// batchAnswer answers a batch with some beacons refused: 200 with each refusal, and
// Retry-After when any was shed.
func (s *Server) batchAnswer(c *fiber.Ctx, res *ingest.Result) error {
	ans := batchAnswer{Accepted: res.Accepted, Rejected: make([]rejected, len(res.Refused))}
	var shed bool
	for i, o := range res.Refused {
		shed = shed || BeaconStatus(o.Reason) == fiber.StatusServiceUnavailable
		ans.Rejected[i] = rejected{Index: o.Index, Reason: o.Reason.String(), Error: o.Detail}
	}
	if shed {
		c.Set(fiber.HeaderRetryAfter, retryAfter(s.opts.RetryAfter))
	}
	return c.Status(fiber.StatusOK).JSON(ans)
}

// admit applies what every beacon endpoint applies before it reads a beacon: the CORS policy,
// then the visitor's rate limit. It fills cl and returns the receive time (now, the time the
// handler started, unless the server runs on a test clock); answered is true when it refused
// the request (err is then the answer's).
func (s *Server) admit(c *fiber.Ctx, cl *ingest.Client, now time.Time) (recv time.Time, answered bool, err error) {
	if !s.cors.apply(c) {
		s.m.refused.WithLabelValues("forbidden_origin").Inc()
		return recv, true, c.Status(fiber.StatusForbidden).JSON(apiError{Error: "origin not allowed", Reason: "forbidden_origin"})
	}
	recv = now
	if s.testClock {
		recv = s.deps.Now()
	}
	*cl = s.client(c)
	if ok, wait := s.lim.Allow(cl.Addr, recv); !ok {
		c.Set(fiber.HeaderRetryAfter, retryAfter(wait))
		return recv, true, s.reject(c, beacon.RateLimited, "too many beacons from this client; retry later", false)
	}
	return recv, false, nil
}

// client is the visitor as the pipeline sees it, from what this request says.
func (s *Server) client(c *fiber.Ctx) ingest.Client {
	var peer netip.Addr
	if ip := c.Context().RemoteIP(); ip != nil {
		peer, _ = netip.AddrFromSlice(ip)
		peer = peer.Unmap()
	}
	r := ingest.Request{
		Peer:         peer,
		ForwardedFor: forwardedFor(c),
		UserAgent:    utils.UnsafeString(c.Request().Header.UserAgent()), // valid for the request only
		MobileHint:   c.Get("Sec-CH-UA-Mobile"),
	}
	if h := s.deps.Pipeline.CountryHeader(); h != "" {
		r.CDNCountry = c.Get(h)
	}
	return s.deps.Pipeline.Client(&r)
}

// forwardedFor is the X-Forwarded-For chain; several header lines are one list, in order
// (RFC 7230 §3.2.2), so the rightmost untrusted hop is found whichever line holds it.
func forwardedFor(c *fiber.Ctx) string {
	lines := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return utils.UnsafeString(lines[0]) // valid for the request only
	}
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = string(l)
	}
	return strings.Join(parts, ",")
}

// retryAfter is a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// mediaTypeIs reports whether the media type of Content-Type ct is one of types (lower
// case). The media type is read without parsing the parameters first, which keeps every
// well-formed beacon free of mime's allocations; anything else goes through the parser.
func mediaTypeIs(ct string, types ...string) bool {
	mt := ct
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		mt = ct[:i]
	}
	mt = strings.TrimSpace(mt)
	for _, t := range types {
		if strings.EqualFold(mt, t) {
			return true
		}
	}
	parsed, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, t := range types {
		if parsed == t {
			return true
		}
	}
	return false
}
