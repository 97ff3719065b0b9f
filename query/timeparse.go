package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a time as both query front-ends accept it: "now", unix seconds, RFC 3339,
// a relative offset from now ("-6h", "-5min", "-1d12h", "now-1h"; units as ParseDuration
// reads them), Graphite's absolute forms HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY, MM/DD/YYYY and
// YYYY-MM-DD, and the words today, midnight, noon, yesterday and tomorrow. Absolute forms
// without a zone are read in UTC.
func ParseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, fmt.Errorf("empty time")
	case s == "now":
		// Ranges are half-open, [from, to): "now" is the end of the current second, so
		// that to=now counts a beacon received in it, even in the second a minute starts.
		return ceilSecond(now), nil
	case strings.HasPrefix(s, "now-") || strings.HasPrefix(s, "now+"):
		d, err := ParseOffset(s[3:])
		if err != nil {
			return 0, err
		}
		return now.Add(d).Unix(), nil
	case s[0] == '-' || s[0] == '+':
		d, err := ParseOffset(s)
		if err != nil {
			return 0, err
		}
		return now.Add(d).Unix(), nil
	}
	// Eight digits that make a date are YYYYMMDD, as graphite-web reads them, not 1970s unix
	// seconds.
	if len(s) == 8 {
		if t, err := time.ParseInLocation("20060102", s, time.UTC); err == nil && t.Year() >= 1900 {
			return t.Unix(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("unix time %d out of range", n)
		}
		return n, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Unix(), nil
	}
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch strings.ToLower(s) {
	case "today", "midnight":
		return day.Unix(), nil
	case "yesterday":
		return day.AddDate(0, 0, -1).Unix(), nil
	case "tomorrow":
		return day.AddDate(0, 0, 1).Unix(), nil
	case "noon":
		return day.Add(12 * time.Hour).Unix(), nil
	}
	for _, layout := range []string{"15:04_20060102", "15:0420060102", "15:04 20060102", "01/02/06", "01/02/2006", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("time %q is not one of: now, unix seconds, RFC 3339, -6h, -5min, now-1h, HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY, today, yesterday", s)
}

var durationUnits = []struct {
	names []string
	d     time.Duration
}{
	{[]string{"s", "sec", "secs", "second", "seconds"}, time.Second},
	{[]string{"m", "min", "mins", "minute", "minutes"}, time.Minute},
	{[]string{"h", "hour", "hours"}, time.Hour},
	{[]string{"d", "day", "days"}, 24 * time.Hour},
	{[]string{"w", "week", "weeks"}, 7 * 24 * time.Hour},
	{[]string{"mon", "month", "months"}, 30 * 24 * time.Hour},
	{[]string{"y", "year", "years"}, 365 * 24 * time.Hour},
}

// maxDuration bounds what ParseDuration accepts: far beyond any retention, far below an
// overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration reads an unsigned duration made of one or more number-unit pairs: "90s",
// "5min", "1d12h", "2w", "1mon" (units s, m or min, h, d, w, mon = 30 d, y = 365 d, and
// their long names and plurals). It is the one duration reader of the query API's steps
// and offsets and of Graphite's times and shifts.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 7 {
			return 0, fmt.Errorf("duration %q must be numbers with units, like 90s, 5min, 1d12h", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit, ok := durationUnit(rest[i:j])
		if !ok {
			return 0, fmt.Errorf("duration %q has an unknown unit %q (s, min, h, d, w, mon, y)", s, rest[i:j])
		}
		if time.Duration(n) > maxDuration/unit || total+time.Duration(n)*unit > maxDuration {
			return 0, fmt.Errorf("duration %q is longer than 100 years", s)
		}
		total += time.Duration(n) * unit
		rest = rest[j:]
	}
	return total, nil
}

func durationUnit(name string) (time.Duration, bool) {
	for _, u := range durationUnits {
		for _, n := range u.names {
			if name == n {
				return u.d, true
			}
		}
	}
	return 0, false
}

// ParseOffset reads a signed offset such as "-6h", "+30min" or "-1d12h".
func ParseOffset(s string) (time.Duration, error) {
	if len(s) < 2 || (s[0] != '-' && s[0] != '+') {
		return 0, fmt.Errorf("offset %q must look like -6h or +30min", s)
	}
	d, err := ParseDuration(s[1:])
	if err != nil {
		return 0, fmt.Errorf("offset %q: %w", s, err)
	}
	if s[0] == '-' {
		d = -d
	}
	return d, nil
}

// ParseShift reads a Graphite timeShift interval: "1d", "-7d", "+1h", "2weeks". Without a
// sign the shift is into the past, as Graphite reads it.
func ParseShift(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time shift")
	}
	if s[0] != '-' && s[0] != '+' {
		s = "-" + s
	}
	return ParseOffset(s)
}

// ParseStep reads a step as the JSON API takes it: whole seconds ("300") or a duration
// ("5min", "1h", "1d12h"), rounded up to whole minutes.
func ParseStep(raw string) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		d, derr := ParseDuration(raw)
		if derr != nil {
			return 0, fmt.Errorf("%q is neither seconds nor a duration like 5min, 1h, 1d12h", raw)
		}
		n = int64(d / time.Second)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%q must be positive", raw)
	}
	if n > int64(maxDuration/time.Second) {
		return 0, fmt.Errorf("%q is longer than 100 years", raw)
	}
	return (n + 59) / 60 * 60, nil
}

// ceilSecond is t in unix seconds, rounded up to the next whole second.
func ceilSecond(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}
