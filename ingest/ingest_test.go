package ingest_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/aggregator"
	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	rumdtest "rumd/internal/testutil"
)

// records is a sink that keeps what it is given, or refuses with err.
type records struct {
	got []series.Record
	err error
}

func (r *records) Add(rec *series.Record) error {
	if r.err != nil {
		return r.err
	}
	r.got = append(r.got, *rec)
	return nil
}

func newPipeline(t *testing.T, sink ingest.Sink) (*ingest.Pipeline, *prometheus.Registry) {
	t.Helper()
	enr, err := enrich.New(nil, nil, enrich.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enr.Close() })
	reg := prometheus.NewRegistry()
	p, err := ingest.New(nil, reg, enr, sink, ingest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

func TestBodyCountsEveryBeaconOnce(t *testing.T) {
	sink := &records{}
	p, reg := newPipeline(t, sink)
	now := time.Now()
	good := rumdtest.Beacon(now, "https://example.com/a?x=1", 300, 1800)
	negative := rumdtest.Beacon(now, "https://example.com/b", 300, 1800)
	// performance.now() below zero: the page's clock cannot be trusted.
	negative["now"], negative["origin"] = -1.0, negative["sent"].(float64)+1
	// Firefox in a fresh tab: fetchStart and the DNS marks a few ms before the time origin
	// drop dns only; the beacon is kept.
	quirky := rumdtest.Beacon(now, "https://example.com/e", 300, 1800)
	quirkyNT := quirky["nt"].(map[string]any)
	quirkyNT["fetchStart"], quirkyNT["domainLookupStart"], quirkyNT["domainLookupEnd"] = -6.1, -5.9, -5.9
	badVersion := rumdtest.Beacon(now, "https://example.com/c", 300, 1800)
	badVersion["v"] = 9
	named := rumdtest.Beacon(now, "https://example.com/d/123", 300, 1800)
	named["page"] = "checkout"
	batch := rumdtest.MustJSON(t, []any{good, negative, badVersion, named, quirky})

	cl := p.Client(&ingest.Request{Peer: netip.MustParseAddr("127.0.0.1"), UserAgent: chrome})
	var res ingest.Result
	p.Body(batch, &cl, now, &res)
	if !res.Batch || res.Accepted != 3 || len(res.Refused) != 2 {
		t.Fatalf("batch: %+v", res)
	}
	if o := res.Refused[0]; o.Index != 1 || o.Reason != beacon.Negative || o.Detail == "" {
		t.Errorf("first refusal %+v, want index 1 negative", o)
	}
	if o := res.Refused[1]; o.Index != 2 || o.Reason != beacon.Malformed {
		t.Errorf("second refusal %+v, want index 2 malformed", o)
	}
	if len(sink.got) != 3 || sink.got[0].Labels[series.Page] != "/a" || sink.got[1].Labels[series.Page] != "checkout" {
		t.Fatalf("records %+v", sink.got)
	}
	if q := sink.got[2]; q.Has&(1<<series.DNS) != 0 || q.Has&(1<<series.TTFB) == 0 || q.Has&(1<<series.Connect) == 0 {
		t.Errorf("quirky beacon: has %b, want dns dropped, ttfb and connect kept", q.Has)
	}
	if sink.got[0].Labels[series.Country] != "XX" || sink.got[0].Labels[series.Device] != "desktop" {
		t.Errorf("labels %q", sink.got[0].Labels)
	}

	// One unreadable body is one refusal, not a batch answer.
	p.Body([]byte(`[{"v":1,`), &cl, now, &res)
	if res.Batch || res.Accepted != 0 || len(res.Refused) != 1 || res.Refused[0].Reason != beacon.Malformed {
		t.Errorf("unreadable body: %+v", res)
	}
	// A transport refusal is counted with the pipeline's.
	p.Refuse(beacon.RateLimited)

	for reason, want := range map[string]float64{"negative": 1, "malformed": 2, "rate_limited": 1, "bot": 0} {
		got := rumdtest.MustMetric(t, reg, "rumd_beacons_rejected_total", "reason", reason)
		if got != want {
			t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := rumdtest.MustMetric(t, reg, "rumd_beacons_accepted_total"); got != 3 {
		t.Errorf("accepted = %v, want 3", got)
	}
	if got := rumdtest.MustMetric(t, reg, "rumd_metrics_dropped_total", "metric", "dns", "reason", "negative"); got != 1 {
		t.Errorf("dropped{dns,negative} = %v, want 1", got)
	}
	if got := rumdtest.MustMetric(t, reg, "rumd_metrics_dropped_total", "metric", "ttfb", "reason", "negative"); got != 0 {
		t.Errorf("dropped{ttfb,negative} = %v, want 0", got)
	}
}

func TestBotsAndShedding(t *testing.T) {
	sink := &records{}
	p, _ := newPipeline(t, sink)
	now := time.Now()
	body := rumdtest.MustJSON(t, rumdtest.Beacon(now, "https://example.com/", 300, 1800))
	var res ingest.Result

	bot := p.Client(&ingest.Request{UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})
	p.Body(body, &bot, now, &res)
	if len(res.Refused) != 1 || res.Refused[0].Reason != beacon.Bot {
		t.Errorf("Googlebot: %+v", res)
	}
	visitor := p.Client(&ingest.Request{UserAgent: chrome})
	p.Body(body, &visitor, now, &res)
	if res.Accepted != 1 || len(sink.got) != 1 {
		t.Fatalf("visitor (positive control): %+v", res)
	}

	sink.err = aggregator.ErrQueueFull
	p.Body(body, &visitor, now, &res)
	if len(res.Refused) != 1 || res.Refused[0].Reason != beacon.Overloaded {
		t.Errorf("full queue: %+v", res)
	}
	sink.err = aggregator.ErrStorageFull
	p.Body(body, &visitor, now, &res)
	if len(res.Refused) != 1 || res.Refused[0].Reason != beacon.StorageFull {
		t.Errorf("storage full: %+v", res)
	}
	sink.err = errors.New("disk on fire")
	p.Body(body, &visitor, now, &res)
	if len(res.Refused) != 1 || res.Refused[0].Reason != beacon.Overloaded || !strings.Contains(res.Refused[0].Detail, "disk on fire") {
		t.Errorf("failing sink: %+v", res)
	}
}

// TestLabelsOutliveTheBody: a beacon's strings are views of its body, and the HTTP server
// reuses the body's buffer once the request is answered; the page, variant and probe names
// the aggregator keeps must not change with it.
func TestLabelsOutliveTheBody(t *testing.T) {
	p, agg := mustPipeline(t, "", nil)
	now := time.Now()
	b := rumdtest.Beacon(now, "https://example.com/a", 300, 1800)
	b["page"], b["variant"] = "checkout", "cdn-b"
	b["probes"] = []any{map[string]any{"name": "edge-1", "url": "https://edge.example/p.gif", "startTime": 10.0, "responseEnd": 90.0}}
	body := rumdtest.MustJSON(t, b)
	visitor := p.Client(&ingest.Request{UserAgent: chrome})
	var res ingest.Result
	p.Body(body, &visitor, now, &res)
	if res.Accepted != 1 {
		t.Fatalf("not accepted: %+v", res)
	}
	clear(body) // the server's next request
	for d, want := range map[series.Dim]string{series.Page: "[checkout]", series.Variant: "[cdn-b]", series.Probe: "[edge-1]"} {
		if got := fmt.Sprint(agg.LabelValues(d)); got != want {
			t.Errorf("%s values after the body was reused: %s, want %s", d, got, want)
		}
	}
}
