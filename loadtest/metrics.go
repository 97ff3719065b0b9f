package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Counts are rumd's own beacon counters as /metrics exposes them.
type Counts struct {
	Accepted float64            `json:"accepted"`
	Rejected map[string]float64 `json:"rejected"`
}

// Sub returns c − before.
func (c Counts) Sub(before Counts) Counts {
	out := Counts{Accepted: c.Accepted - before.Accepted, Rejected: map[string]float64{}}
	for k, v := range c.Rejected {
		if d := v - before.Rejected[k]; d != 0 {
			out.Rejected[k] = d
		}
	}
	return out
}

// parseCounts reads rumd_beacons_accepted_total and rumd_beacons_rejected_total{reason} from
// a Prometheus text exposition, summing over any other labels.
func parseCounts(r io.Reader) (Counts, error) {
	c := Counts{Rejected: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case "rumd_beacons_accepted_total":
			c.Accepted += value
			found = true
		case "rumd_beacons_rejected_total":
			c.Rejected[labelValue(labels, "reason")] += value
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("read metrics: %w", err)
	}
	if !found {
		return c, fmt.Errorf("no rumd_beacons_accepted_total or rumd_beacons_rejected_total in /metrics")
	}
	return c, nil
}

// splitSample splits `name{labels} value [timestamp]`.
func splitSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return "", "", 0, false
		}
		name, rest = line[:i], line[i:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return name, labels, v, true
}

// labelValue returns the value of label key in a `k="v",...` list.
func labelValue(labels, key string) string {
	for labels != "" {
		eq := strings.IndexByte(labels, '=')
		if eq < 0 || eq+1 >= len(labels) || labels[eq+1] != '"' {
			return ""
		}
		k := strings.TrimSpace(labels[:eq])
		rest := labels[eq+2:]
		var val bytes.Buffer
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			val.WriteByte(rest[i])
		}
		if k == key {
			return val.String()
		}
		if i+1 >= len(rest) {
			return ""
		}
		labels = strings.TrimLeft(rest[i+1:], ", ")
	}
	return ""
}

// scrapeCounts fetches base/metrics and parses rumd's beacon counters.
func (c *apiClient) scrapeCounts(ctx context.Context) (Counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return Counts{}, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Counts{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counts{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseCounts(resp.Body)
}
