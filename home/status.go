package home

import (
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// rateWindow is how far back beacons per second are measured.
const rateWindow = time.Minute

// status answers /api/v1/status from the counters rumd's components keep on its registry.
type status struct {
	g       prometheus.Gatherer
	started time.Time

	mu      sync.Mutex
	samples []sample // oldest first, spanning at most rateWindow plus one sample
}

// sample is the number of beacons handled (accepted or rejected) by a moment.
type sample struct {
	at    time.Time
	total float64
}

func newStatus(g prometheus.Gatherer) *status {
	now := time.Now()
	// rumd's counters start at zero when it starts, which is where the first sample is.
	return &status{g: g, started: now, samples: []sample{{at: now}}}
}

// FewViews is the count below which the page marks a percentile "few views": under 20
// views a p75 is one of the five slowest, and even at 20 its 95% order-statistic interval
// spans ranks 12 to 19 (docs/statistics.md), so one more view can move it a lot.
// The status answer carries it so the page and any other client mark the same cells.
const FewViews = 20

// statusAnswer is the body of GET /api/v1/status; docs/home.md describes each field.
type statusAnswer struct {
	Time          int64          `json:"time"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Beacons       beaconCounts   `json:"beacons"`
	Refused       map[string]int `json:"refused"`
	Queue         queueState     `json:"queue"`
	Storage       storageState   `json:"storage"`
	GeoIP         *geoipState    `json:"geoip"`
	FewViews      int            `json:"few_views"`
	Build         buildState     `json:"build"`
}

// buildState names the running build, from rumd_build_info's labels.
type buildState struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

type beaconCounts struct {
	Accepted      int64            `json:"accepted"`
	RejectedTotal int64            `json:"rejected_total"`
	Rejected      map[string]int64 `json:"rejected"`
	PerSecond     float64          `json:"per_second"`
	RateSeconds   float64          `json:"rate_seconds"`
}

type queueState struct {
	Depth    int64 `json:"depth"`
	Capacity int64 `json:"capacity"`
	Shed     int64 `json:"shed"`
}

type storageState struct {
	DiskBytes    int64 `json:"disk_bytes"`
	FlushedUntil int64 `json:"flushed_until"`
	FreeBytes    int64 `json:"free_bytes"`
	ReserveBytes int64 `json:"reserve_bytes"`
	// Full is true while windows are not written for want of disk space; they are held
	// in memory (HeldWindows, HeldBytes) until beacons are refused with storage_full.
	Full        bool  `json:"full"`
	HeldWindows int64 `json:"held_windows"`
	HeldBytes   int64 `json:"held_bytes"`
}

type geoipState struct {
	Type  string `json:"type"`
	Built int64  `json:"built"`
}

func (s *status) handle(c *fiber.Ctx) error {
	mfs, err := s.g.Gather()
	if err != nil {
		return err
	}
	now := time.Now()
	a := statusAnswer{Time: now.Unix(), UptimeSeconds: int64(now.Sub(s.started).Seconds()),
		Refused: map[string]int{}, Beacons: beaconCounts{Rejected: map[string]int64{}}, FewViews: FewViews}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := value(m)
			switch mf.GetName() {
			case "rumd_beacons_accepted_total":
				a.Beacons.Accepted = int64(v)
			case "rumd_beacons_rejected_total":
				if v > 0 {
					a.Beacons.Rejected[label(m, "reason")] = int64(v)
					a.Beacons.RejectedTotal += int64(v)
				}
			case "rumd_requests_refused_total":
				if v > 0 {
					a.Refused[label(m, "reason")] = int(v)
				}
			case "rumd_aggregator_queue_depth":
				a.Queue.Depth = int64(v)
			case "rumd_aggregator_queue_capacity":
				a.Queue.Capacity = int64(v)
			case "rumd_aggregator_shed_total":
				a.Queue.Shed = int64(v)
			case "rumd_storage_disk_bytes":
				a.Storage.DiskBytes = int64(v)
			case "rumd_storage_flushed_until_seconds":
				a.Storage.FlushedUntil = int64(v)
			case "rumd_storage_free_bytes":
				a.Storage.FreeBytes = int64(v)
			case "rumd_storage_reserve_bytes":
				a.Storage.ReserveBytes = int64(v)
			case "rumd_storage_full":
				a.Storage.Full = v > 0
			case "rumd_aggregator_held_windows":
				a.Storage.HeldWindows = int64(v)
			case "rumd_aggregator_held_bytes":
				a.Storage.HeldBytes = int64(v)
			case "rumd_geoip_build_timestamp_seconds":
				if a.GeoIP == nil {
					a.GeoIP = &geoipState{}
				}
				a.GeoIP.Built = int64(v)
			case "rumd_build_info":
				a.Build = buildState{label(m, "version"), label(m, "commit"), label(m, "go_version")}
			case "rumd_geoip_database_info":
				if a.GeoIP == nil {
					a.GeoIP = &geoipState{}
				}
				a.GeoIP.Type = label(m, "database_type")
			}
		}
	}
	a.Beacons.PerSecond, a.Beacons.RateSeconds = s.rate(now, float64(a.Beacons.Accepted+a.Beacons.RejectedTotal))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(a)
}

// rate records total at now and returns beacons per second since the oldest sample within
// rateWindow, with the seconds it spans. Samples are kept at most one per second, so the
// memory stays bounded however often the page is polled.
func (s *status) rate(now time.Time, total float64) (float64, float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.samples[len(s.samples)-1]; now.Sub(last.at) >= time.Second {
		s.samples = append(s.samples, sample{at: now, total: total})
	}
	// Keep one sample at or before the window's start, so the rate spans the whole window.
	for len(s.samples) > 2 && now.Sub(s.samples[1].at) >= rateWindow {
		s.samples = s.samples[1:]
	}
	first := s.samples[0]
	secs := now.Sub(first.at).Seconds()
	if secs <= 0 {
		return 0, 0
	}
	return round2((total - first.total) / secs), round2(secs)
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
