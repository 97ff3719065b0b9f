// Package server is rumd's HTTP stage: it takes beacons in over HTTP (CORS, rate limits,
// body limits) and hands them to the ingest pipeline, answers the query API, and serves rumd's own health and metrics.
// Other packages add their routes (snippet and test pages, Graphite API, dashboards)
// through Deps.Mounts.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/query"
	"rumd/server/ratelimit"
)

// MinTokenLen is the fewest characters a token or scrape token may have: short enough to
// paste, far too many to guess.
const MinTokenLen = 16

// Options configures the HTTP stage.
type Options struct {
	// Formats place the beacon formats of the registry (ingest.Formats), by name: whether
	// each is served, its path and its body limit.
	Formats map[string]FormatOptions
	// CORSOrigins may post beacons from a browser; "*" allows any.
	CORSOrigins []string
	// ReadTimeout bounds reading one request (slow clients are cut off).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one answer.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection.
	IdleTimeout time.Duration
	// RetryAfter is what a shed beacon (503) is told to wait.
	RetryAfter time.Duration
	// RateLimit bounds what one client address and one network prefix may post.
	RateLimit ratelimit.Options
	// ReadRateLimit bounds the expensive reads (query API, Graphite render and find, the
	// native-histogram exposition) one client address and one prefix may ask for.
	ReadRateLimit ratelimit.Options
	// Token, when set (at least MinTokenLen characters, no white space), is required as
	// "Authorization: Bearer <token>" on everything but ingest, the snippet, the test pages,
	// the health endpoints and (unless MetricsToken) /metrics.
	Token string
	// MetricsToken puts /metrics behind the token too.
	MetricsToken bool
	// ScrapeToken, when set, is accepted besides Token on /metrics and RUMMetricsPath, and
	// nowhere else: for a Prometheus that must not read the query API.
	ScrapeToken string
	// PublicGraphs lets GET /render answer graph images (png, the default, and svg)
	// without the token, so that a graph URL works in an <img> tag; data formats (json,
	// raw, csv) keep needing it.
	PublicGraphs bool
	// RUMMetricsPath is where Deps.RUMGatherer (the native-histogram exposition of the
	// sketches, docs/scaling-out.md) is served, behind the token or the scrape token
	// whenever a token is set.
	RUMMetricsPath string
}

// DefaultOptions returns the defaults of docs/design.md §2 and §3.
func DefaultOptions() Options {
	return Options{
		Formats:       defaultFormats(),
		CORSOrigins:   []string{"*"},
		ReadTimeout:   10 * time.Second,
		WriteTimeout:  10 * time.Second,
		IdleTimeout:   60 * time.Second,
		RetryAfter:    5 * time.Second,
		RateLimit:     ratelimit.DefaultOptions(),
		ReadRateLimit: ratelimit.Options{PerAddr: 50, AddrBurst: 1000, PerPrefix: 200, PrefixBurst: 2000, MaxTracked: 10000, IPv4PrefixLen: 24, IPv6PrefixLen: 64},

		RUMMetricsPath: "/metrics/rum",
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	if err := o.validateFormats(); err != nil {
		return err
	}
	if !strings.HasPrefix(o.RUMMetricsPath, "/") || strings.ContainsAny(o.RUMMetricsPath, " ?#:*") || o.RUMMetricsPath == "/metrics" || o.servesFormatAt(o.RUMMetricsPath) {
		return fmt.Errorf("rum metrics path %q must be a plain absolute path of its own like /metrics/rum", o.RUMMetricsPath)
	}
	if len(o.CORSOrigins) == 0 {
		return errors.New("cors origins must list at least one origin, or \"*\"")
	}
	for _, origin := range o.CORSOrigins {
		if origin != "*" && !strings.HasPrefix(origin, "http://") && !strings.HasPrefix(origin, "https://") {
			return fmt.Errorf("cors origin %q must be \"*\" or start with http:// or https://", origin)
		}
	}
	for name, d := range map[string]time.Duration{"read timeout": o.ReadTimeout, "write timeout": o.WriteTimeout, "idle timeout": o.IdleTimeout, "retry after": o.RetryAfter} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, d)
		}
	}
	if o.Token != "" && (len(o.Token) < MinTokenLen || strings.ContainsAny(o.Token, " \t\r\n")) {
		return fmt.Errorf("token must be at least %d characters with no white space", MinTokenLen)
	}
	if o.ScrapeToken != "" && (o.Token == "" || o.ScrapeToken == o.Token || len(o.ScrapeToken) < MinTokenLen || strings.ContainsAny(o.ScrapeToken, " \t\r\n")) {
		return fmt.Errorf("scrape token needs a token, must differ from it, and must be at least %d characters with no white space", MinTokenLen)
	}
	if err := o.ReadRateLimit.Validate(); err != nil {
		return fmt.Errorf("read %w", err)
	}
	return o.RateLimit.Validate()
}

// servesFormatAt reports whether a served beacon format has path.
func (o Options) servesFormatAt(path string) bool {
	for _, fo := range o.Formats {
		if fo.on() && fo.Path == path {
			return true
		}
	}
	return false
}

func checkIngestPath(what, path string) error {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#:*") {
		return fmt.Errorf("%s %q must be a plain absolute path like /timings", what, path)
	}
	for _, reserved := range []string{"/api/", "/metrics", "/healthz", "/readyz", "/render", "/test", "/dashboards", "/rumd.js", "/functions", "/version", "/tags/"} {
		if path == reserved || strings.HasPrefix(path, reserved) {
			return fmt.Errorf("%s %q collides with rumd's own %s", what, path, reserved)
		}
	}
	return nil
}

// Deps are the components the server serves.
type Deps struct {
	// Pipeline takes the beacons in.
	Pipeline *ingest.Pipeline
	Engine   *query.Engine
	// Gatherer is exposed at /metrics.
	Gatherer prometheus.Gatherer
	// RUMGatherer, when set, is exposed at Options.RUMMetricsPath.
	RUMGatherer prometheus.Gatherer
	// Checks make up the /readyz tree.
	Checks []Check
	// Mounts add routes of other packages.
	Mounts []func(fiber.Router) error
	// Now is the clock; default time.Now. With the default a beacon's receive time is the
	// time its handler started, read once.
	Now func() time.Time
}

// Server is the HTTP stage.
type Server struct {
	app  *fiber.App
	log  *slog.Logger
	opts Options
	deps Deps
	m    *metrics
	cors corsPolicy
	lim  *ratelimit.Limiter
	// readLim is the readers' limiter, apart from the beacons' so neither starves the other.
	readLim *ratelimit.Limiter
	hint    proxyHint
	// endpoints are the served beacon formats.
	endpoints []*endpoint
	// testClock is set when Deps.Now was given: beacons are then received at its time.
	testClock bool
}

// New builds the server and its routes.
func New(logger *slog.Logger, reg prometheus.Registerer, deps Deps, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	if deps.Pipeline == nil || deps.Engine == nil {
		return nil, errors.New("server needs an ingest pipeline and a query engine")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	testClock := deps.Now != nil
	if deps.Now == nil {
		deps.Now = time.Now
	}
	lim, err := ratelimit.New(opts.RateLimit)
	if err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	readLim, err := ratelimit.New(opts.ReadRateLimit)
	if err != nil {
		return nil, fmt.Errorf("server options: read %w", err)
	}
	s := &Server{log: logger, opts: opts, deps: deps, m: newMetrics(reg), cors: newCORSPolicy(opts.CORSOrigins), lim: lim, readLim: readLim, testClock: testClock}
	s.endpoints = newEndpoints(opts, s.m.formatRequests)
	// fiber reads no body past the largest format's limit; each format's own limit is
	// checked in its handler.
	bodyLimit := 4096
	for _, e := range s.endpoints {
		bodyLimit = max(bodyLimit, e.limit)
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "rumd",
		BodyLimit:             bodyLimit,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		IdleTimeout:           opts.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		ReadBufferSize:        8192,
	})
	s.app.Use(securityHeaders)
	// Ingest comes next: fiber runs routes in the order they were added, so beacons never
	// pass through the middlewares below (they need no token and carry nothing to compress).
	s.mountFormats()
	// Pages, query answers and dashboards go out compressed to clients that accept it (a
	// 24-hour 1-minute series shrinks ~10×); the snippet has its own gzip copy.
	s.app.Use(compress.New(compress.Config{
		Level: compress.LevelBestSpeed,
		Next:  func(c *fiber.Ctx) bool { return c.Method() != fiber.MethodGet || c.Path() == "/rumd.js" },
	}))
	s.app.Use(s.limitReads)
	s.app.Use(s.authorize)
	s.app.Get("/api/v1/series", s.series)
	s.app.Get("/api/v1/summary", s.summary)
	s.app.Get("/api/v1/compare", s.compare)
	s.app.Get("/api/v1/labels", s.labels)
	s.app.Get("/api/v1/label/:dim/values", s.labelValues)
	s.app.Get("/metrics", s.metrics)
	if deps.RUMGatherer != nil {
		s.app.Get(opts.RUMMetricsPath, s.rumMetrics)
	}
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	for _, mount := range deps.Mounts {
		if err := mount(s.app); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// App is the fiber application, for tests.
func (s *Server) App() *fiber.App { return s.app }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops taking connections and waits for the requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

// apiError is the JSON error body of every refusal: {"error": ..., "reason": ...}.
type apiError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// handleError answers errors that escape handlers, and the server's own refusals (a body
// over the limit while it is read, a request that timed out).
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	code := fiber.StatusInternalServerError
	if errors.As(err, &fe) {
		code = fe.Code
	}
	if code == fiber.StatusRequestEntityTooLarge {
		detail := "body is too large"
		if e := s.endpointAt(c.Path()); e != nil {
			s.cors.apply(c)
			detail = e.tooLarge
			defer e.count(fiber.StatusRequestEntityTooLarge)
		}
		return s.reject(c, beacon.TooLarge, detail, false)
	}
	if code >= 500 {
		s.log.Error("request failed", "path", c.Path(), "err", err)
	}
	reason := "internal"
	switch {
	case code == fiber.StatusNotFound:
		reason = "not_found"
	case code == fiber.StatusMethodNotAllowed:
		reason = "method_not_allowed"
	case code == fiber.StatusRequestTimeout:
		reason = "timeout"
		s.m.refused.WithLabelValues(reason).Inc()
	case code < 500:
		reason = "bad_request"
	}
	return c.Status(code).JSON(apiError{Error: err.Error(), Reason: reason})
}
