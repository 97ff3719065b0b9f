//go:build rumd_extra

package series

// A build with the rumd_extra tag (`go test -tags rumd_extra ./internal/series ./storage
// ./aggregator`) has one more page metric and two more dimensions, placed where a real
// addition could land: the metric before the probe metrics, which moves all of them to new
// enum positions, one dimension before Probe, which moves it, and one after it. Their codes
// are appended, as a real addition's would be. Tests run in this build prove that data
// written by the normal build reads back unchanged and that caps cover every dimension.
const (
	extraPageMetrics     = 1
	extraDimsBeforeProbe = 1
	extraDimsAfterProbe  = 1
)

// The test-only identifiers.
const (
	ExtraMetric    Metric = CLS + 1
	ExtraDimBefore Dim    = Variant + 1
	ExtraDimAfter  Dim    = Probe + 1
)

var (
	testMetricCodes = []metricCode{{ExtraMetric, "extra_metric", 17}}
	testDimCodes    = []dimCode{{ExtraDimBefore, "extra_dim_before", 6}, {ExtraDimAfter, "extra_dim_after", 7}}
)
