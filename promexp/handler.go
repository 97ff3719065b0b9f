package promexp

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// TextNote heads the text exposition. Native-histogram buckets travel only in the protobuf
// format, so `curl /metrics/rum` shows each histogram as a count, a sum and a lone +Inf
// bucket, which looks like a bug. A line starting with '#' that is not HELP or TYPE is a
// comment every text-format parser skips, so the note costs a scraper nothing.
const TextNote = "# rumd: native-histogram buckets travel only in the protobuf format, so this text " +
	"shows each histogram's count, sum and +Inf bucket alone. For every bucket, scrape with " +
	"native histograms on (Prometheus 2.40 to 3.8: --enable-feature=native-histograms; 3.9 on: " +
	"scrape_native_histograms: true, PrometheusProto first in scrape_protocols); docs/scaling-out.md."

// Handler serves g: in the format the client negotiates, as promhttp does, with TextNote
// first when that format is text.
func Handler(g prometheus.Gatherer) http.Handler {
	negotiated := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.Negotiate(r.Header)
		if format.FormatType() != expfmt.TypeTextPlain {
			negotiated.ServeHTTP(w, r)
			return
		}
		mfs, err := g.Gather()
		if err != nil {
			http.Error(w, "gather: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		buf.WriteString(TextNote + "\n")
		enc := expfmt.NewEncoder(&buf, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", string(format))
		// A text scrape of many series is large; compress it as promhttp would.
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Write(buf.Bytes())
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(buf.Bytes())
		gz.Close()
	})
}

// acceptsGzip reads an Accept-Encoding header: gzip listed, and not with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
