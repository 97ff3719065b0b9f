package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"rumd/aggregator"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	"rumd/internal/testutil"
	"rumd/promexp"
)

// TestRUMMetricsTextSaysBucketsNeedProtobuf scrapes /metrics/rum, behind the token, in each
// format: text (what curl gets) starts with a comment saying the native buckets travel
// only over protobuf, and still parses with Prometheus' text parser, plain and gzipped;
// protobuf carries the buckets and no note.
func TestRUMMetricsTextSaysBucketsNeedProtobuf(t *testing.T) {
	const token = "rum-metrics-token-0123456789"
	ts := startServerAgg(t, func(o *Options, _ *enrich.Options) { o.Token = token },
		func(ao *aggregator.Options) { ao.Totals.Views = []series.Mask{series.MaskOf()} })
	if code, _, _ := ts.post(t, testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900)), nil); code != 204 {
		t.Fatalf("ingest: %d", code)
	}
	ts.waitApplied(t, 1)

	// The client decompresses nothing itself, so the test sees what was sent.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	scrape := func(accept, encoding, auth string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.url+"/metrics/rum", nil)
		for k, v := range map[string]string{"Accept": accept, "Accept-Encoding": encoding, "Authorization": auth} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, body
	}

	if code, _, _ := scrape("", "", ""); code != 401 {
		t.Fatalf("/metrics/rum without the token: %d, want 401", code)
	}
	for _, tc := range []struct{ name, accept, encoding string }{
		{name: "curl", accept: "*/*"},
		{name: "no accept header"},
		{name: "text asked for", accept: "text/plain;version=0.0.4"},
		{name: "gzip", accept: "*/*", encoding: "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := scrape(tc.accept, tc.encoding, "Bearer "+token)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if tc.encoding == "gzip" {
				if hdr.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", hdr.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q, want text/plain", ct)
			}
			first, _, _ := strings.Cut(string(body), "\n")
			if first != promexp.TextNote || !strings.Contains(first, "protobuf") {
				t.Fatalf("first line %q, want the note on protobuf", first)
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("the text exposition does not parse: %v", err)
			}
			if mf := mfs["rumd_ttfb_milliseconds"]; mf == nil || len(mf.GetMetric()) == 0 || mf.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
				t.Fatalf("parsed rumd_ttfb_milliseconds %v, want one histogram of one sample", mf)
			}
		})
	}

	t.Run("protobuf", func(t *testing.T) {
		code, hdr, body := scrape("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "", "Bearer "+token)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		if bytes.Contains(body, []byte("rumd: native-histogram")) {
			t.Fatal("the protobuf exposition carries the text note")
		}
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(hdr))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				t.Fatalf("no rumd_ttfb_milliseconds in the protobuf exposition (%v)", err)
			}
			if mf.GetName() == "rumd_ttfb_milliseconds" {
				if h := mf.GetMetric()[0].GetHistogram(); h.GetSchema() != promexp.Schema || len(h.GetPositiveSpan()) == 0 {
					t.Fatalf("histogram without native buckets: %v", h)
				}
				return
			}
		}
	})
}
