//go:build !rumd_extra

package series

// The normal build has no test-only identifiers; see extra_on.go.
const (
	extraPageMetrics     = 0
	extraDimsBeforeProbe = 0
	extraDimsAfterProbe  = 0
)

var (
	testMetricCodes []metricCode
	testDimCodes    []dimCode
)
