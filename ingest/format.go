package ingest

import (
	"net/http"
	"time"

	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
)

// Format is one beacon wire format: how it arrives over HTTP and how its requests become
// page views. The HTTP layer, the config and the load tool loop over Formats, so a new
// format is one decoder package, one entry in formats below, its docs and its tests
// (docs/architecture.md "A beacon format").
type Format struct {
	// Name keys the format in config (formats.<name>), metrics ({format="<name>"}) and the
	// load tool (--format).
	Name string
	// Summary says in a few words what sends it, for help texts.
	Summary string
	// Path is where it is received unless configured otherwise.
	Path string
	// Methods it is received with; a GET carries its data in the query string and no body.
	Methods []string
	// ContentTypes are the media types a body may be sent as, in lower case; a request
	// without a Content-Type is read too (sendBeacon of a string without one).
	ContentTypes []string
	// Encodings are the Content-Encodings accepted besides identity. None yet: a compressed
	// body is refused rather than inflated, since a small bomb would expand far past the
	// body limit.
	Encodings []string
	// BodyLimit is the default largest body in bytes.
	BodyLimit int
	// MediaStatus answers a body of another content type or encoding; 0 answers 400
	// malformed like any unreadable beacon.
	MediaStatus int
	// AuthHeader is the request header that must carry the format's API key when the
	// server is given one (its FormatOptions.APIKey), as a Faro collector's x-api-key;
	// "" takes no key.
	AuthHeader string
	// Success answers a request whose beacons were all accepted or ignored.
	Success Answer
	// IgnoredKinds are the kinds of beacons it reads but counts for nothing, each counted in
	// rumd_beacons_ignored_total{format,kind}.
	IgnoredKinds []string
	// Decode runs one request through p into res (reused: Decode resets it). It counts
	// every refusal it returns, as Pipeline.Body does.
	Decode func(p *Pipeline, in *Input, res *Result)
}

// Answer is how a request is answered: a status and, unless Body is nil, a body.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Headers reads one request header; *fasthttp.RequestHeader is one.
type Headers interface {
	Peek(key string) []byte
}

// Input is one request to a format's decoder. Its byte slices are valid during the call only.
type Input struct {
	// Query is the raw query string, without the '?'.
	Query []byte
	// Body is nil for a GET.
	Body    []byte
	Headers Headers
	Client  *Client
	Recv    time.Time
}

// The names of the built-in formats.
const (
	FormatV1        = "v1"
	FormatBoomerang = "boomerang"
)

// formats is the registry: one line per format.
var formats = []Format{
	{
		Name: FormatV1, Summary: "rumd's snippet (JSON, one beacon or a batch)", Path: "/timings",
		Methods: []string{http.MethodPost}, ContentTypes: []string{"text/plain", "application/json"},
		BodyLimit: 64 << 10, Success: Answer{Status: http.StatusNoContent}, Decode: decodeV1,
	},
	{
		Name: FormatBoomerang, Summary: "boomerang's beacons (form POSTs and image GETs)", Path: "/beacon",
		Methods: []string{http.MethodGet, http.MethodPost}, ContentTypes: []string{"application/x-www-form-urlencoded", "text/plain"},
		BodyLimit: 64 << 10, Success: Answer{Status: http.StatusNoContent}, IgnoredKinds: boomerangIgnoredNames(), Decode: decodeBoomerang,
	},
}

// Formats lists every registered format, in a fixed order (the copy is the caller's).
func Formats() []Format { return append([]Format(nil), formats...) }

// FormatNames lists the registered formats' names, in the order of Formats.
func FormatNames() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}

// LookupFormat is the registered format called name.
func LookupFormat(name string) (Format, bool) {
	for _, f := range formats {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

func decodeV1(p *Pipeline, in *Input, res *Result) { p.Body(in.Body, in.Client, in.Recv, res) }

// decodeBoomerang is one boomerang beacon per request: never a batch.
func decodeBoomerang(p *Pipeline, in *Input, res *Result) {
	res.Batch, res.Accepted, res.Ignored, res.Refused = false, 0, 0, res.Refused[:0]
	kind, r, detail := p.Boomerang(in.Query, in.Body, in.Client, in.Recv)
	switch {
	case r != beacon.OK:
		res.Refused = append(res.Refused, Outcome{Reason: r, Detail: detail})
	case kind.Ignored():
		res.Ignored = 1
	default:
		res.Accepted = 1
	}
}

func boomerangIgnoredNames() []string {
	var names []string
	for _, k := range boomerang.IgnoredKinds() {
		names = append(names, k.String())
	}
	return names
}
