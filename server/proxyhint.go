package server

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/ingest/beacon"
)

// proxyHint spots the usual first-deployment mistake: rumd behind a reverse proxy it does not
// trust. Every visitor then arrives from the proxy's address, shares its rate limit, and
// most refused beacons are rate_limited from that one address. It says so once in the log,
// naming --trusted-proxies. Its zero value is ready to use.
type proxyHint struct {
	mu      sync.Mutex
	start   time.Time
	refused int
	limited map[netip.Addr]int
	said    bool
}

const (
	// hintWindow is how long refusals are counted before the count starts over.
	hintWindow = time.Minute
	// hintMinRefused is how many refusals a window needs before it is judged.
	hintMinRefused = 50
	// hintMaxAddrs bounds the addresses counted in one window.
	hintMaxAddrs = 256
)

// refusedBeacon feeds one refusal to the hint; for a rate_limited one it finds the limited
// address and whether it came straight from the TCP peer (not through a trusted proxy).
func (s *Server) refusedBeacon(c *fiber.Ctx, r beacon.Reason) {
	var addr netip.Addr
	direct, trusted, forwarded := false, false, false
	if r == beacon.RateLimited {
		if ip := c.Context().RemoteIP(); ip != nil {
			addr, _ = netip.AddrFromSlice(ip)
			addr = addr.Unmap()
		}
		xff := forwardedFor(c)
		enr := s.deps.Pipeline.Enricher()
		direct = enr.ClientAddr(addr, xff) == addr
		trusted = enr.Trusted(addr)
		forwarded = xff != "" || len(c.Request().Header.Peek(fiber.HeaderForwarded)) > 0
	}
	s.hint.observe(s.log, s.deps.Now(), r, addr, direct, trusted, forwarded)
}

// observe counts one refusal at now. addr, direct, trusted and forwarded matter for
// rate_limited ones: direct means addr is the TCP peer itself, not a client named by a
// trusted proxy; trusted that addr is a trusted proxy all the same (one that named no
// client); forwarded that the request carried a forwarding header.
func (h *proxyHint) observe(log *slog.Logger, now time.Time, r beacon.Reason, addr netip.Addr, direct, trusted, forwarded bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.said {
		return
	}
	if now.Sub(h.start) > hintWindow || h.limited == nil {
		h.start, h.refused, h.limited = now, 0, map[netip.Addr]int{}
	}
	h.refused++
	if r == beacon.RateLimited && direct && addr.IsValid() {
		if _, ok := h.limited[addr]; ok || len(h.limited) < hintMaxAddrs {
			h.limited[addr]++
			if n := h.limited[addr]; h.refused >= hintMinRefused && 2*n > h.refused {
				h.said = true
				if trusted {
					// Telling the operator to trust it again would not help: the proxy does
					// not say who its clients are.
					log.Warn("most refused beacons are rate_limited from one trusted proxy that names no client: "+
						"all visitors behind it share its rate limit (and its country); make the proxy send X-Forwarded-For",
						"address", addr.String(), "rate_limited", n, "refused", h.refused, "forwarding_header", forwarded)
					return
				}
				log.Warn("most refused beacons are rate_limited from one address that is not a trusted proxy: "+
					"rumd is probably behind a reverse proxy it does not trust, so all visitors share that proxy's rate limit "+
					"(and its country); add the proxy's address to --trusted-proxies",
					"address", addr.String(), "rate_limited", n, "refused", h.refused, "forwarding_header", forwarded)
			}
		}
	}
}
