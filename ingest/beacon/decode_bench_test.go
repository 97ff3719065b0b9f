package beacon

import (
	stdjson "encoding/json"
	"os"
	"testing"
	"time"

	goccy "github.com/goccy/go-json"

	"rumd/internal/series"
)

// The decoder was chosen by these benchmarks (run: go test -run '^$' -bench . -benchmem
// -cpu 1 ./ingest/beacon). sonic is measured by the separate module in testdata/sonicbench,
// so that it stays out of rumd's go.mod; its jsonBeacon is a copy of the one below.
//
// Measured on the shared 2-vCPU development VM (best of 10, 2026-11-21), 641-byte page beacon:
//
//	handwritten     954 ns/op    80 B/op   1 allocs/op
//	goccy/go-json   999 ns/op   320 B/op  13 allocs/op
//	sonic          1636 ns/op   968 B/op   9 allocs/op
//	encoding/json  8377 ns/op   585 B/op  19 allocs/op
//
// goccy is as fast but allocates once per string field, which alone breaks the budget of
// 5 allocations per beacon (docs/design.md §7); the hand-written decoder allocated once (one
// copy of a beacon's strings), and since its strings became views of the body (see Beacon)
// it allocates nothing for a beacon without JSON escapes.

// jsonTiming, jsonProbe and jsonBeacon are the v1 schema as reflection decoders need it.
type jsonTiming struct {
	NavigationStart          float64 `json:"navigationStart"`
	RedirectStart            float64 `json:"redirectStart"`
	RedirectEnd              float64 `json:"redirectEnd"`
	FetchStart               float64 `json:"fetchStart"`
	DomainLookupStart        float64 `json:"domainLookupStart"`
	DomainLookupEnd          float64 `json:"domainLookupEnd"`
	ConnectStart             float64 `json:"connectStart"`
	SecureConnectionStart    float64 `json:"secureConnectionStart"`
	ConnectEnd               float64 `json:"connectEnd"`
	RequestStart             float64 `json:"requestStart"`
	ResponseStart            float64 `json:"responseStart"`
	ResponseEnd              float64 `json:"responseEnd"`
	DOMInteractive           float64 `json:"domInteractive"`
	DOMContentLoadedEventEnd float64 `json:"domContentLoadedEventEnd"`
	LoadEventEnd             float64 `json:"loadEventEnd"`
	ActivationStart          float64 `json:"activationStart"`
	TransferSize             float64 `json:"transferSize"`
	NextHopProtocol          string  `json:"nextHopProtocol"`
}

type jsonProbe struct {
	Name                  string   `json:"name"`
	URL                   string   `json:"url"`
	StartTime             float64  `json:"startTime"`
	FetchStart            float64  `json:"fetchStart"`
	DomainLookupStart     float64  `json:"domainLookupStart"`
	DomainLookupEnd       float64  `json:"domainLookupEnd"`
	ConnectStart          float64  `json:"connectStart"`
	SecureConnectionStart float64  `json:"secureConnectionStart"`
	ConnectEnd            float64  `json:"connectEnd"`
	RequestStart          float64  `json:"requestStart"`
	ResponseStart         float64  `json:"responseStart"`
	ResponseEnd           float64  `json:"responseEnd"`
	TransferSize          *float64 `json:"transferSize"`
	NextHopProtocol       string   `json:"nextHopProtocol"`
}

type jsonBeacon struct {
	V         int         `json:"v"`
	ID        string      `json:"id"`
	URL       string      `json:"url"`
	Sent      float64     `json:"sent"`
	Origin    *float64    `json:"origin"`
	Now       float64     `json:"now"`
	Nav       string      `json:"nav"`
	Conn      string      `json:"conn"`
	Variant   string      `json:"variant"`
	Webdriver bool        `json:"webdriver"`
	NT        *jsonTiming `json:"nt"`
	NT1       *jsonTiming `json:"nt1"`
	Vitals    *struct {
		FCP *float64 `json:"fcp"`
		LCP *float64 `json:"lcp"`
		CLS *float64 `json:"cls"`
		INP *float64 `json:"inp"`
	} `json:"vitals"`
	Probes []jsonProbe `json:"probes"`
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var benchBodies = []struct{ name, file string }{
	{"page", "beacon_page.json"},   // 641 bytes: a page view, no probes
	{"probe", "beacon.json"},       // 1141 bytes: docs/design.md §2's example with one probe
	{"batch6", "batch_mixed.json"}, // an array with good and bad members
}

// BenchmarkDecode compares the candidate decoders, each decoding into a reused destination
// as the ingest path does.
func BenchmarkDecode(b *testing.B) {
	for _, bb := range benchBodies {
		body := mustRead(b, bb.file)
		b.Run(bb.name+"/handwritten", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			dst := make([]Beacon, 0, 8)
			for b.Loop() {
				var err error
				dst, _, err = Decode(body, dst)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		if bb.name == "batch6" {
			continue // the reflection decoders cannot keep going past a bad member
		}
		b.Run(bb.name+"/goccy", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var v jsonBeacon
			for b.Loop() {
				v = jsonBeacon{Probes: v.Probes[:0]}
				if err := goccy.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var v jsonBeacon
			for b.Loop() {
				v = jsonBeacon{Probes: v.Probes[:0]}
				if err := stdjson.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchRecv = time.UnixMilli(1763683200500)

func BenchmarkValidate(b *testing.B) {
	bs, _, err := Decode(mustRead(b, "beacon.json"), nil)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		if r, d := Validate(&bs[0], benchRecv, &o); r != OK {
			b.Fatal(r, d)
		}
	}
}

func BenchmarkDerive(b *testing.B) {
	bs, _, err := Decode(mustRead(b, "beacon.json"), nil)
	if err != nil {
		b.Fatal(err)
	}
	var rec series.Record
	b.ReportAllocs()
	for b.Loop() {
		Derive(&bs[0], &rec)
	}
}

// BenchmarkPipeline is this package's share of the per-beacon budget (docs/design.md §7): decode,
// validate and derive with reused buffers.
func BenchmarkPipeline(b *testing.B) {
	for _, bb := range benchBodies[:2] {
		body := mustRead(b, bb.file)
		b.Run(bb.name, func(b *testing.B) {
			o := DefaultOptions()
			dst := make([]Beacon, 0, 1)
			var rec series.Record
			b.ReportAllocs()
			for b.Loop() {
				var err error
				dst, _, err = Decode(body, dst)
				if err != nil {
					b.Fatal(err)
				}
				if r, d := Validate(&dst[0], benchRecv, &o); r != OK {
					b.Fatal(r, d)
				}
				Derive(&dst[0], &rec)
			}
		})
	}
}
