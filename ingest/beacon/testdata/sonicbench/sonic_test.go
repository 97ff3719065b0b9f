// Package sonicbench measures bytedance/sonic on the beacon benchmark bodies. It is its own
// module so that sonic stays out of rumd's go.mod; run it with
//
//	cd ingest/beacon/testdata/sonicbench && go test -bench . -benchmem
//
// The types are a copy of those in ../../decode_bench_test.go.
package sonicbench

import (
	"os"
	"testing"

	"github.com/bytedance/sonic"
)

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

func BenchmarkDecode(b *testing.B) {
	for _, bb := range []struct{ name, file string }{{"page", "beacon_page.json"}, {"probe", "beacon.json"}} {
		body, err := os.ReadFile("../" + bb.file)
		if err != nil {
			b.Fatal(err)
		}
		for _, api := range []struct {
			name string
			api  sonic.API
		}{{"sonic", sonic.ConfigDefault}, {"sonic_std", sonic.ConfigStd}} {
			b.Run(bb.name+"/"+api.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				var v jsonBeacon
				for b.Loop() {
					v = jsonBeacon{Probes: v.Probes[:0]}
					if err := api.api.Unmarshal(body, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
