package server

import (
	"errors"
	"mime"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/server/beacon"
	"rumd/server/enrich"
)

// batchPool recycles the decoded-beacon slices of ingest requests.
var batchPool = sync.Pool{New: func() any { b := make([]beacon.Beacon, 0, 1); return &b }}

// reject answers a refused beacon: the one place a Reason becomes a status, a JSON body and
// a count in rumd_beacons_rejected_total{reason}.
func (s *Server) reject(c *fiber.Ctx, r beacon.Reason, detail string) error {
	s.m.reject(r, 1)
	s.refusedBeacon(c, r)
	if (r == beacon.Overloaded || r == beacon.RateLimited) && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, retryAfter(s.opts.RetryAfter))
	}
	return c.Status(r.Status()).JSON(apiError{Error: detail, Reason: r.String()})
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

// client is what the request itself says about the visitor, worked out once per request.
type client struct {
	addr    netip.Addr
	bot     bool
	country string
	device  string
}

func (s *Server) ingest(c *fiber.Ctx) error {
	t0 := time.Now()
	defer func() { s.m.ingestSeconds.Observe(time.Since(t0).Seconds()) }()
	if !s.cors.apply(c) {
		s.m.refused.WithLabelValues("forbidden_origin").Inc()
		return c.Status(fiber.StatusForbidden).JSON(apiError{Error: "origin not allowed", Reason: "forbidden_origin"})
	}
	recv := s.deps.Now()
	cl := s.client(c)
	if ok, wait := s.lim.Allow(cl.addr, recv); !ok {
		c.Set(fiber.HeaderRetryAfter, retryAfter(wait))
		return s.reject(c, beacon.RateLimited, "too many beacons from this client; retry later")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !acceptedType(ct) {
		return s.reject(c, beacon.Malformed, "content type must be text/plain or application/json, got "+ct)
	}
	// Compressed bodies are refused rather than inflated: a small gzip bomb would otherwise
	// expand far past the body limit.
	if ce := c.Get(fiber.HeaderContentEncoding); ce != "" && !strings.EqualFold(ce, "identity") {
		return s.reject(c, beacon.Malformed, "compressed bodies are not accepted (Content-Encoding: "+ce+")")
	}
	body := c.Request().Body() // raw: never decompressed
	bp := batchPool.Get().(*[]beacon.Beacon)
	defer batchPool.Put(bp)
	beacons, errs, err := beacon.Decode(body, (*bp)[:0])
	*bp = beacons
	if err != nil {
		return s.reject(c, beacon.Malformed, err.Error())
	}
	if !beacon.IsBatch(body) && len(beacons) == 1 {
		var e error
		if len(errs) > 0 {
			e = errs[0]
		}
		if r, detail := s.accept(&beacons[0], e, &cl, recv); r != beacon.OK {
			return s.reject(c, r, detail)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	ans := batchAnswer{Rejected: []rejected{}}
	var shed bool
	for i := range beacons {
		var e error
		if i < len(errs) {
			e = errs[i]
		}
		r, detail := s.accept(&beacons[i], e, &cl, recv)
		if r == beacon.OK {
			ans.Accepted++
			continue
		}
		s.m.reject(r, 1)
		shed = shed || r == beacon.Overloaded
		ans.Rejected = append(ans.Rejected, rejected{Index: i, Reason: r.String(), Error: detail})
	}
	if len(ans.Rejected) == 0 {
		return c.SendStatus(fiber.StatusNoContent)
	}
	if shed {
		c.Set(fiber.HeaderRetryAfter, retryAfter(s.opts.RetryAfter))
	}
	return c.Status(fiber.StatusOK).JSON(ans)
}

// accept validates, enriches and hands over one decoded beacon; decodeErr is its schema
// error from the decoder, if any.
func (s *Server) accept(b *beacon.Beacon, decodeErr error, cl *client, recv time.Time) (beacon.Reason, string) {
	if decodeErr != nil {
		return beacon.Malformed, decodeErr.Error()
	}
	if cl.bot {
		return beacon.Bot, "user agent is a bot, crawler or automated browser"
	}
	if r, detail := beacon.Validate(b, recv, &s.opts.Beacon); r != beacon.OK {
		return r, detail
	}
	var rec series.Record
	rec.Time = recv.Unix()
	if b.Page != "" {
		// The site named the page group itself; the per-window cap still bounds it.
		rec.Labels[series.Page] = series.Clean(b.Page)
	} else {
		rec.Labels[series.Page] = s.deps.Enricher.PageGroup(b.URL)
	}
	rec.Labels[series.Country] = cl.country
	rec.Labels[series.Device] = cl.device
	cached, opaque := beacon.Derive(b, &rec)
	if err := s.deps.Sink.Add(&rec); err != nil {
		if errors.Is(err, aggregator.ErrQueueFull) || errors.Is(err, aggregator.ErrClosed) {
			return beacon.Overloaded, "rumd is shedding load; retry later"
		}
		return beacon.Overloaded, err.Error()
	}
	s.m.accepted.Inc()
	s.m.skew.Observe(beacon.Skew(b, recv))
	if len(b.Probes) > 0 {
		s.m.probes.WithLabelValues("cached_dropped").Add(float64(cached))
		s.m.probes.WithLabelValues("total_only").Add(float64(opaque))
		s.m.probes.WithLabelValues("all").Add(float64(len(b.Probes)))
	}
	return beacon.OK, ""
}

func (s *Server) client(c *fiber.Ctx) client {
	var peer netip.Addr
	if ip := c.Context().RemoteIP(); ip != nil {
		peer, _ = netip.AddrFromSlice(ip)
		peer = peer.Unmap()
	}
	ua := c.Get(fiber.HeaderUserAgent)
	var cdn string
	if h := s.deps.Enricher.CountryHeader(); h != "" {
		cdn = c.Get(h)
	}
	xff := forwardedFor(c)
	return client{
		addr:    s.deps.Enricher.ClientAddr(peer, xff),
		bot:     enrich.IsBot(ua),
		country: s.deps.Enricher.Country(peer, xff, cdn),
		device:  s.deps.Enricher.Device(ua, c.Get("Sec-CH-UA-Mobile")),
	}
}

// forwardedFor is the X-Forwarded-For chain; several header lines are one list, in order
// (RFC 7230 §3.2.2), so the rightmost untrusted hop is found whichever line holds it.
func forwardedFor(c *fiber.Ctx) string {
	lines := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return string(lines[0])
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

// acceptedType reports whether a Content-Type is text/plain or application/json, with any
// parameters (sendBeacon with a string sends text/plain;charset=UTF-8).
func acceptedType(ct string) bool {
	mt := ct
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		mt = ct[:i]
	}
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "text/plain") || strings.EqualFold(mt, "application/json") {
		return true
	}
	parsed, _, err := mime.ParseMediaType(ct)
	return err == nil && (parsed == "text/plain" || parsed == "application/json")
}
