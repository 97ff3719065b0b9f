package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/valyala/fasthttp"

	"rumd/internal/sketch"
)

// Latency summarises HTTP request latencies in milliseconds, read from a sketch.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Result is what one load run against one target saw.
type Result struct {
	Target     string  `json:"target"`
	Mode       string  `json:"mode"` // "closed" or "open"
	Seconds    float64 `json:"seconds"`
	Sent       int64   `json:"sent"`
	Answered   int64   `json:"answered"`
	Accepted   int64   `json:"accepted"`
	Errors     int64   `json:"errors"` // transport errors and timeouts: no answer
	FirstError string  `json:"first_error,omitempty"`
	// Rejected counts answered-but-not-accepted beacons by the reason rumd named.
	Rejected map[string]int64 `json:"rejected"`
	// Intended counts the answered beacons by the reason they were made for; "" is good.
	Intended map[string]int64 `json:"intended"`
	Status   map[int]int64    `json:"status"`
	Rate     float64          `json:"rate"` // answered beacons per second
	Latency  Latency          `json:"latency"`
	// Late counts open-loop sends that started over 10 ms behind schedule: the target
	// rate was more than the connections could carry.
	Late int64 `json:"late,omitempty"`

	// accepted[i] counts the sends of pool item i that were accepted.
	accepted []uint32
	latency  *ddsketch.DDSketch
}

// counters is the live state the progress line reads.
type counters struct {
	sent, answered, rejected, errors atomic.Int64
	latNanos                         atomic.Int64
}

type worker struct {
	rejected map[string]int64
	intended map[string]int64
	status   map[int]int64
	accepted int64
	errors   int64
	late     int64
	firstErr error
	lat      *ddsketch.DDSketch
}

// RunLoad sends pool's beacons to baseURL+path until opts.Count are sent or opts.Duration
// has passed, over opts.Connections keep-alive connections.
func RunLoad(ctx context.Context, baseURL string, pool *Pool, opts *Options) (*Result, error) {
	return runLoad(ctx, baseURL, pool, opts, nil)
}

// runLoad is RunLoad updating live, when non-nil, as the run goes, for a progress line.
func runLoad(ctx context.Context, baseURL string, pool *Pool, opts *Options, live *counters) (*Result, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", baseURL, err)
	}
	if live == nil {
		live = &counters{}
	}
	client := &fasthttp.HostClient{
		Addr:                          u.Host,
		MaxConns:                      opts.Connections,
		ReadTimeout:                   opts.Timeout,
		WriteTimeout:                  opts.Timeout,
		MaxConnWaitTimeout:            opts.Timeout,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		MaxResponseBodySize:           1 << 20,
	}
	defer client.CloseIdleConnections()
	uri := baseURL + opts.Path
	runID := uint32(time.Now().UnixNano()>>10) ^ uint32(opts.Seed)
	res := &Result{Target: baseURL, Mode: "closed", accepted: make([]uint32, len(pool.Items))}
	if opts.Rate > 0 {
		res.Mode = "open"
	}
	var seq atomic.Int64
	var interval time.Duration
	if opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / opts.Rate)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	start := time.Now()
	deadline := start.Add(opts.Duration)
	workers := make([]*worker, opts.Connections)
	var wg sync.WaitGroup
	for w := range workers {
		wk := &worker{
			rejected: map[string]int64{}, intended: map[string]int64{}, status: map[int]int64{},
			lat: sketch.New(),
		}
		workers[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			req.Header.SetMethod(fasthttp.MethodPost)
			ct := pool.ContentType
			if ct == "" {
				ct = "text/plain;charset=UTF-8"
			}
			req.Header.SetContentType(ct)
			// get is the request of image beacons (boomerang's GETs): a request of its own, so
			// that nothing of the POSTs' (a body, its length) leaks into it.
			get := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(get)
			get.Header.SetMethod(fasthttp.MethodGet)
			var send *fasthttp.Request
			scratch := make([]byte, 0, 4096)
			for ctx.Err() == nil {
				i := seq.Add(1) - 1
				if i >= int64(opts.Count) {
					return
				}
				began := time.Now()
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if !due.Before(deadline) {
						return
					}
					if d := time.Until(due); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-t.C:
						}
					} else if d < -10*time.Millisecond {
						wk.late++
					}
					began = due // latency as the user of an open system sees it
				} else if !began.Before(deadline) {
					return
				}
				idx := int(i % int64(len(pool.Items)))
				it := &pool.Items[idx]
				if it.Get {
					// An image beacon: the parameters are the query string.
					scratch = append(append(scratch[:0], uri...), '?')
					q := len(scratch)
					scratch = append(scratch, it.Body...)
					if it.IDOff >= 0 {
						putID(scratch[q+it.IDOff:], runID, uint64(i))
					}
					get.SetRequestURIBytes(scratch)
					send = get
				} else {
					scratch = append(scratch[:0], it.Body...)
					if it.IDOff >= 0 {
						putID(scratch[it.IDOff:], runID, uint64(i))
					}
					req.SetBodyRaw(scratch)
					send = req
				}
				send.Header.SetUserAgent(it.UA)
				if opts.UseXFF {
					send.Header.Set("X-Forwarded-For", it.IP)
				}
				live.sent.Add(1)
				err := client.Do(send, resp)
				lat := time.Since(began)
				if err != nil {
					wk.errors++
					live.errors.Add(1)
					if wk.firstErr == nil {
						wk.firstErr = err
					}
					continue
				}
				live.answered.Add(1)
				live.latNanos.Add(int64(lat))
				_ = wk.lat.Add(float64(lat) / 1e6)
				code := resp.StatusCode()
				wk.status[code]++
				wk.intended[it.Reason]++
				if code >= 200 && code < 300 && (code == 204 || !isBatchAnswer(resp.Body())) {
					wk.accepted++
					atomic.AddUint32(&res.accepted[idx], 1)
					continue
				}
				live.rejected.Add(1)
				wk.rejected[reasonOf(code, resp.Body())]++
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Rejected, res.Intended, res.Status = map[string]int64{}, map[string]int64{}, map[int]int64{}
	res.latency = sketch.New()
	for _, wk := range workers {
		res.Accepted += wk.accepted
		res.Errors += wk.errors
		res.Late += wk.late
		for k, v := range wk.rejected {
			res.Rejected[k] += v
		}
		for k, v := range wk.intended {
			res.Intended[k] += v
			res.Answered += v
		}
		for k, v := range wk.status {
			res.Status[k] += v
		}
		if wk.firstErr != nil && res.FirstError == "" {
			res.FirstError = wk.firstErr.Error()
		}
		if err := res.latency.MergeWith(wk.lat); err != nil {
			return nil, fmt.Errorf("merge latency sketches: %w", err)
		}
	}
	res.Sent = res.Answered + res.Errors
	if res.Seconds > 0 {
		res.Rate = float64(res.Answered) / res.Seconds
	}
	res.Latency = summarise(res.latency)
	return res, nil
}

func summarise(s *ddsketch.DDSketch) Latency {
	if s.IsEmpty() {
		return Latency{}
	}
	mx, _ := s.GetMaxValue()
	return Latency{
		P50:  round3(sketch.Quantile(s, 0.5)),
		P95:  round3(sketch.Quantile(s, 0.95)),
		P99:  round3(sketch.Quantile(s, 0.99)),
		Max:  round3(mx),
		Mean: round3(s.GetSum() / s.GetCount()),
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// isBatchAnswer reports whether a 2xx body is the per-index answer to an array; the load
// tool sends single beacons, so such an answer to one is unexpected and counted apart.
func isBatchAnswer(body []byte) bool { return bytes.Contains(body, []byte(`"rejected"`)) }

// reasonOf reads the reason of a rejection from rumd's JSON error body
// ({"error": ..., "reason": ...}); without one, it names the status.
func reasonOf(code int, body []byte) string {
	key := []byte(`"reason"`)
	if i := bytes.Index(body, key); i >= 0 {
		rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n:")
		if len(rest) > 0 && rest[0] == '"' {
			if j := bytes.IndexByte(rest[1:], '"'); j >= 0 && j < 64 {
				return string(rest[1 : 1+j])
			}
		}
	}
	switch code {
	case 429:
		return "rate_limited"
	case 413:
		return "too_large"
	}
	return fmt.Sprintf("http_%d", code)
}

// sortedKeys returns m's keys in order, for stable reports.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
