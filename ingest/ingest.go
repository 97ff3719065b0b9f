// Package ingest is rumd's ingest stage: one pipeline, decode → validate → enrich → derive →
// aggregate, that every beacon format and every caller goes through (the HTTP handlers, the
// in-process benchmark, the load tool's in-process mode). It knows nothing of HTTP: callers
// describe the visitor with a Client and get back a beacon.Reason per beacon; turning a
// reason into a status is the HTTP layer's job. Its sub-packages hold the stages: beacon
// (wire formats, rejection rules, derived metrics) and enrich (address, country, device, bot,
// page group). See docs/architecture.md.
package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/aggregator"
	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
	"rumd/ingest/enrich"
	"rumd/internal/series"
)

// Sink takes accepted beacons as records: the aggregator. Add must not keep rec, its Probes
// array or its strings after it returns: the pipeline reuses the first two, and label
// values may be views of the request body (see beacon.Beacon), which the server reuses.
type Sink interface {
	Add(rec *series.Record) error
}

var _ Sink = (*aggregator.Aggregator)(nil)

// Options configures the pipeline.
type Options struct {
	// Beacon holds the validation bounds.
	Beacon beacon.Options
	// Boomerang configures the boomerang decoder.
	Boomerang boomerang.Options
}

// DefaultOptions returns the defaults of docs/design.md.
func DefaultOptions() Options {
	return Options{Beacon: beacon.DefaultOptions(), Boomerang: boomerang.DefaultOptions()}
}

// Validate checks the options.
func (o Options) Validate() error {
	if err := o.Beacon.Validate(); err != nil {
		return err
	}
	return o.Boomerang.Validate()
}

// Pipeline runs beacons from their wire form to the sink, and counts what it accepted and
// refused in rumd_beacons_accepted_total and rumd_beacons_rejected_total{reason}.
type Pipeline struct {
	log  *slog.Logger
	opts Options
	enr  *enrich.Enricher
	sink Sink
	m    *metrics
}

// New builds a pipeline that enriches with enr and hands records to sink.
func New(logger *slog.Logger, reg prometheus.Registerer, enr *enrich.Enricher, sink Sink, opts Options) (*Pipeline, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("ingest options: %w", err)
	}
	if enr == nil || sink == nil {
		return nil, errors.New("ingest needs an enricher and a sink")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{log: logger, opts: opts, enr: enr, sink: sink, m: newMetrics(reg)}, nil
}

// Enricher is the pipeline's enricher, for the readiness check of its GeoIP database.
func (p *Pipeline) Enricher() *enrich.Enricher { return p.enr }

// Client is what a request says about the visitor, worked out once per request and shared by
// every beacon in it.
type Client struct {
	// Addr is the client's address behind the trusted proxies (for rate limits).
	Addr    netip.Addr
	Bot     bool
	Country string
	Device  string
}

// Request is what the transport knows of one request, before enrichment.
type Request struct {
	Peer netip.Addr
	// ForwardedFor is the whole X-Forwarded-For chain, every header line joined by commas.
	ForwardedFor string
	// CDNCountry is the value of the configured CDN country header, if any.
	CDNCountry string
	UserAgent  string
	// MobileHint is the Sec-CH-UA-Mobile client hint.
	MobileHint string
}

// Client enriches what the transport knows of a request into the visitor's Client.
func (p *Pipeline) Client(r *Request) Client {
	device, bot := p.enr.Agent(r.UserAgent, r.MobileHint)
	return Client{
		Addr:    p.enr.ClientAddr(r.Peer, r.ForwardedFor),
		Bot:     bot,
		Country: p.enr.Country(r.Peer, r.ForwardedFor, r.CDNCountry),
		Device:  device,
	}
}

// CountryHeader is the CDN country header the enricher reads, "" when none is configured.
func (p *Pipeline) CountryHeader() string { return p.enr.CountryHeader() }

// Outcome is the verdict on one beacon of a body.
type Outcome struct {
	// Index is the beacon's position in the body (0 for a single beacon).
	Index  int
	Reason beacon.Reason
	Detail string
}

// Result is the verdict on one body.
type Result struct {
	// Batch is true when the body was a readable JSON array, whatever its length; an
	// unreadable body is one refusal of the whole body.
	Batch    bool
	Accepted int
	// Ignored counts the beacons read but counted for nothing (a format's IgnoredKinds).
	Ignored int
	// Refused holds the beacons that were not accepted, in body order.
	Refused []Outcome
}

// batchPool recycles the decoded-beacon slices of bodies.
var batchPool = sync.Pool{New: func() any { b := make([]beacon.Beacon, 0, 1); return &b }}

// Body runs a v1 body (one beacon or a batch) through the pipeline. A body that cannot be
// decoded at all is one malformed refusal. Every refusal is counted; res.Refused is reused
// from the caller's res.
func (p *Pipeline) Body(body []byte, cl *Client, recv time.Time, res *Result) {
	res.Batch, res.Accepted, res.Ignored, res.Refused = beacon.IsBatch(body), 0, 0, res.Refused[:0]
	bp := batchPool.Get().(*[]beacon.Beacon)
	defer batchPool.Put(bp)
	beacons, errs, err := beacon.Decode(body, (*bp)[:0])
	*bp = beacons
	if err != nil {
		// Nothing in the body could be read: one refusal of the whole body, batch or not.
		res.Batch = false
		p.refuse(res, 0, beacon.Malformed, err.Error())
		return
	}
	for i := range beacons {
		var e error
		if i < len(errs) {
			e = errs[i]
		}
		if e != nil {
			p.refuse(res, i, beacon.Malformed, e.Error())
			continue
		}
		if r, detail := p.Accept(&beacons[i], cl, recv); r != beacon.OK {
			p.refuse(res, i, r, detail)
			continue
		}
		res.Accepted++
	}
}

func (p *Pipeline) refuse(res *Result, i int, r beacon.Reason, detail string) {
	p.m.reject(r, 1)
	res.Refused = append(res.Refused, Outcome{Index: i, Reason: r, Detail: detail})
}

// Refuse counts a refusal that the transport decided before the pipeline ran (a rate limit,
// a body too large, a wrong content type), so every refused beacon is in one counter.
func (p *Pipeline) Refuse(r beacon.Reason) { p.m.reject(r, 1) }

// Accept validates, enriches, derives and hands over one decoded beacon. It does not count a
// refusal: Body does, and so must any other caller (through Refuse).
func (p *Pipeline) Accept(b *beacon.Beacon, cl *Client, recv time.Time) (beacon.Reason, string) {
	if cl.Bot {
		return beacon.Bot, "user agent is a bot, crawler or automated browser"
	}
	if r, detail := beacon.Validate(b, recv, &p.opts.Beacon); r != beacon.OK {
		return r, detail
	}
	return p.add(b, cl, recv)
}

// recordPool recycles records and their probe arrays: a record handed to the sink through
// an interface would otherwise be a heap allocation of ~300 bytes per beacon. The sink
// keeps neither once Add returns.
var recordPool = sync.Pool{New: func() any { return new(series.Record) }}

// add enriches, derives and hands over one validated beacon.
func (p *Pipeline) add(b *beacon.Beacon, cl *Client, recv time.Time) (beacon.Reason, string) {
	rec := recordPool.Get().(*series.Record)
	defer recordPool.Put(rec)
	*rec = series.Record{Probes: rec.Probes[:0]}
	rec.Time = recv.Unix()
	if b.Page != "" {
		// The site named the page group itself; the per-window cap still bounds it.
		rec.Labels[series.Page] = series.Clean(b.Page)
	} else {
		rec.Labels[series.Page] = p.enr.PageGroup(b.URL)
	}
	rec.Labels[series.Country] = cl.Country
	rec.Labels[series.Device] = cl.Device
	cached, opaque := beacon.Derive(b, rec)
	if err := p.sink.Add(rec); err != nil {
		if errors.Is(err, aggregator.ErrStorageFull) {
			return beacon.StorageFull, "rumd's disk is full and it holds all it can in memory; retry later"
		}
		if errors.Is(err, aggregator.ErrQueueFull) || errors.Is(err, aggregator.ErrClosed) {
			return beacon.Overloaded, "rumd is shedding load; retry later"
		}
		return beacon.Overloaded, err.Error()
	}
	p.m.accepted.Inc()
	p.m.skew.Observe(beacon.Skew(b, recv))
	b.EachDrop(p.m.drop)
	if len(b.Probes) > 0 {
		p.m.probesCached.Add(float64(cached))
		p.m.probesOpaque.Add(float64(opaque))
		p.m.probesAll.Add(float64(len(b.Probes)))
	}
	return beacon.OK, ""
}
