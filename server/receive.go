package server

import (
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/ingest"
	"rumd/ingest/beacon"
)

// FormatOptions place one beacon format of the registry (ingest.Formats) on this server.
type FormatOptions struct {
	// Enabled serves the format; a format with an empty Path is off too.
	Enabled bool
	// Path is where its beacons are received.
	Path string
	// APIKey, for a format with an AuthHeader, is required in that header; "" lets any
	// request in.
	APIKey string
	// BodyLimit bounds one request body in bytes. The server stops reading any body past
	// the largest format's limit; each format's own is checked before its decoder runs.
	BodyLimit int
}

// registry lists the beacon formats; a test may add one built from a real decoder.
var registry = ingest.Formats

func lookupFormat(name string) (ingest.Format, bool) {
	for _, f := range registry() {
		if f.Name == name {
			return f, true
		}
	}
	return ingest.Format{}, false
}

// defaultFormats places every registered format at its own path and limit.
func defaultFormats() map[string]FormatOptions {
	out := map[string]FormatOptions{}
	for _, f := range registry() {
		out[f.Name] = FormatOptions{Enabled: true, Path: f.Path, BodyLimit: f.BodyLimit}
	}
	return out
}

// on reports whether the format is served.
func (o FormatOptions) on() bool { return o.Enabled && o.Path != "" }

// validateFormats checks every format's placement: known names, plain paths of their own,
// limits in 1 KiB..16 MiB.
func (o Options) validateFormats() error {
	paths := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(o.Formats)) {
		fo := o.Formats[name]
		f, ok := lookupFormat(name)
		if !ok {
			var known []string
			for _, f := range registry() {
				known = append(known, f.Name)
			}
			return fmt.Errorf("format %q is unknown (known: %s)", name, strings.Join(known, ", "))
		}
		if fo.APIKey != "" && (f.AuthHeader == "" || strings.ContainsAny(fo.APIKey, " \t\r\n")) {
			return fmt.Errorf("format %s takes an API key only when it names an auth header, with no white space in the key", name)
		}
		if !fo.on() {
			continue
		}
		if err := checkIngestPath(name+" path", fo.Path); err != nil {
			return err
		}
		if other, ok := paths[fo.Path]; ok {
			return fmt.Errorf("%s path %q is the %s path too", name, fo.Path, other)
		}
		paths[fo.Path] = name
		if fo.BodyLimit < 1024 || fo.BodyLimit > 16<<20 {
			return fmt.Errorf("body limit must be 1 KiB..16 MiB, got %d (format %s)", fo.BodyLimit, name)
		}
	}
	return nil
}

// endpoint is one served format, with everything its handler needs worked out once.
type endpoint struct {
	f     ingest.Format
	path  string
	limit int
	// allow is the preflight's Access-Control-Allow-Methods.
	allow string
	// allowHeaders is the preflight's Access-Control-Allow-Headers.
	allowHeaders string
	// key is the API key required in f.AuthHeader, nil for none.
	key []byte
	// wantType is the refusal's text for a wrong content type.
	wantType  string
	tooLarge  string
	hasGET    bool
	success   ingest.Answer
	requests  []prometheus.Counter // by position of the status in answerCodes
	requestsV *prometheus.CounterVec
}

// answerCodes are the statuses a beacon request is answered with, pre-resolved per format.
var answerCodes = []int{200, 202, 204, 400, 401, 403, 413, 415, 429, 503}

// endpoints builds the served formats, in registry order.
func newEndpoints(o Options, requests *prometheus.CounterVec) []*endpoint {
	var out []*endpoint
	for _, f := range registry() {
		fo, ok := o.Formats[f.Name]
		if !ok || !fo.on() {
			continue
		}
		e := &endpoint{
			f: f, path: fo.Path, limit: fo.BodyLimit, allow: strings.Join(append(slices.Clone(f.Methods), fiber.MethodOptions), ", "),
			wantType: "content type must be " + strings.Join(f.ContentTypes, " or ") + ", got ",
			tooLarge: fmt.Sprintf("body is larger than %d bytes", fo.BodyLimit),
			hasGET:   slices.Contains(f.Methods, fiber.MethodGet), success: f.Success, requestsV: requests,
			allowHeaders: fiber.HeaderContentType,
		}
		if f.AuthHeader != "" {
			e.allowHeaders += ", " + f.AuthHeader
		}
		if fo.APIKey != "" {
			e.key = []byte(fo.APIKey)
		}
		for _, code := range answerCodes {
			e.requests = append(e.requests, requests.WithLabelValues(f.Name, strconv.Itoa(code)))
		}
		out = append(out, e)
	}
	return out
}

// count adds one request answered with code to rumd_ingest_requests_total{format,code}.
func (e *endpoint) count(code int) {
	if i := slices.Index(answerCodes, code); i >= 0 {
		e.requests[i].Inc()
		return
	}
	e.requestsV.WithLabelValues(e.f.Name, strconv.Itoa(code)).Inc()
}

// endpointAt is the served format at path, nil when none is.
func (s *Server) endpointAt(path string) *endpoint {
	for _, e := range s.endpoints {
		if e.path == path {
			return e
		}
	}
	return nil
}

// mountFormats adds every served format's routes: its methods and the CORS preflight.
func (s *Server) mountFormats() {
	for _, e := range s.endpoints {
		s.app.Options(e.path, s.preflight)
		h := s.receive(e)
		for _, m := range e.f.Methods {
			s.app.Add(m, e.path, h)
		}
	}
}

// receive takes one request of a format: CORS and rate limit (admit), then for a body its
// content type, encoding and size, then the format's decoder, and answers the format's
// success, one refusal, or (for a batch) the per-beacon verdicts.
func (s *Server) receive(e *endpoint) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		t0 := time.Now()
		defer func() {
			s.m.ingestSeconds.Observe(time.Since(t0).Seconds())
			e.count(c.Response().StatusCode())
		}()
		w := workPool.Get().(*work)
		defer workPool.Put(w)
		recv, answered, err := s.admit(c, &w.cl, t0)
		if answered {
			return err
		}
		if e.key != nil && subtle.ConstantTimeCompare(c.Request().Header.Peek(e.f.AuthHeader), e.key) != 1 {
			s.m.refused.WithLabelValues("unauthorized").Inc()
			return c.Status(fiber.StatusUnauthorized).JSON(apiError{Error: "this endpoint needs its API key in " + e.f.AuthHeader, Reason: "unauthorized"})
		}
		var body []byte
		if !e.hasGET || c.Method() != fiber.MethodGet {
			if ct := utils.UnsafeString(c.Request().Header.ContentType()); ct != "" && !mediaTypeIs(ct, e.f.ContentTypes...) {
				return s.refuseMedia(c, e, e.wantType+ct)
			}
			if ce := utils.UnsafeString(c.Request().Header.ContentEncoding()); ce != "" && !strings.EqualFold(ce, "identity") && !encodingIn(ce, e.f.Encodings) {
				// Refused rather than inflated: a small gzip bomb would expand far past the limit.
				return s.refuseMedia(c, e, "compressed bodies are not accepted (Content-Encoding: "+ce+")")
			}
			body = c.Request().Body() // raw body: never decompressed
			if len(body) > e.limit {
				return s.reject(c, beacon.TooLarge, e.tooLarge, false)
			}
		}
		res := &w.res
		w.in = ingest.Input{Query: c.Request().URI().QueryString(), Body: body, Headers: &c.Request().Header, Client: &w.cl, Recv: recv}
		e.f.Decode(s.deps.Pipeline, &w.in, res)
		w.in = ingest.Input{} // holds views of the request's buffers
		if len(res.Refused) == 0 {
			return answer(c, e.success)
		}
		if !res.Batch {
			o := res.Refused[0]
			return s.reject(c, o.Reason, o.Detail, true)
		}
		return s.batchAnswer(c, res)
	}
}

// work is one request's scratch: the decoder is called through a func value, so what it
// is handed would otherwise move to the heap on every request.
type work struct {
	cl  ingest.Client
	in  ingest.Input
	res ingest.Result
}

var workPool = sync.Pool{New: func() any { return new(work) }}

// answer sends a format's own answer.
func answer(c *fiber.Ctx, a ingest.Answer) error {
	if a.Body == nil {
		return c.SendStatus(a.Status)
	}
	if a.ContentType != "" {
		c.Set(fiber.HeaderContentType, a.ContentType)
	}
	return c.Status(a.Status).Send(a.Body)
}

// refuseMedia refuses a body of a content type or encoding the format does not take:
// counted as malformed, answered with the format's MediaStatus (400 by default).
func (s *Server) refuseMedia(c *fiber.Ctx, e *endpoint, detail string) error {
	if e.f.MediaStatus == 0 {
		return s.reject(c, beacon.Malformed, detail, false)
	}
	s.deps.Pipeline.Refuse(beacon.Malformed)
	s.refusedBeacon(c, beacon.Malformed)
	return c.Status(e.f.MediaStatus).JSON(apiError{Error: detail, Reason: beacon.Malformed.String()})
}

func encodingIn(ce string, encodings []string) bool {
	for _, enc := range encodings {
		if strings.EqualFold(ce, enc) {
			return true
		}
	}
	return false
}
