package server

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"rumd/ingest/enrich"
	"rumd/internal/testutil"
	"rumd/server/ratelimit"
)

// BenchmarkReceive is one beacon request through the server's whole handler chain (security
// headers, CORS, rate limit, content checks, the format's decoder, the pipeline, the
// aggregator), in process: no socket, so what it measures is rumd's own work per request.
func BenchmarkReceive(b *testing.B) {
	ts := startServer(b, func(o *Options, _ *enrich.Options) {
		o.RateLimit = ratelimit.Options{PerAddr: 1e9, AddrBurst: 1 << 30, PerPrefix: 1e9, PrefixBurst: 1 << 30, MaxTracked: 100, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
	})
	h := ts.srv.App().Handler()
	v1 := testutil.MustJSON(b, testutil.Beacon(time.Now(), "https://example.com/questions/42", 300, 1800))
	boom := []byte(boomerangForm(b, "post-0-page_load.json").Encode())
	for _, bc := range []struct {
		name, path, ct string
		body           []byte
	}{
		{"v1", "/timings", "text/plain;charset=UTF-8", v1},
		{"boomerang", "/beacon", "application/x-www-form-urlencoded", boom},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var req fasthttp.Request
			req.Header.SetMethod("POST")
			req.SetRequestURI(bc.path)
			req.Header.SetContentType(bc.ct)
			req.Header.Set("User-Agent", browserUABench)
			req.SetBody(bc.body)
			addr := &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 5000}
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for i := 0; i < b.N; i++ {
				ctx.Init(&req, addr, nil)
				h(&ctx)
				if code := ctx.Response.StatusCode(); code != 204 {
					b.Fatalf("status %d: %s", code, ctx.Response.Body())
				}
			}
		})
	}
}

const browserUABench = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
