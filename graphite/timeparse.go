package graphite

import (
	"fmt"
	"strings"
	"time"

	"rumd/query"
)

// parseTime reads a Graphite time: what query.ParseTime reads (now, unix seconds, RFC 3339,
// -6h, -5min, now-1h), Graphite's absolute forms HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY and
// MM/DD/YYYY, and today, yesterday, tomorrow and midnight. Absolute forms are read in UTC.
func parseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	// Eight digits that make a date are YYYYMMDD, as graphite-web reads them, not 1970s unix
	// seconds.
	if len(s) == 8 {
		if t, err := time.ParseInLocation("20060102", s, time.UTC); err == nil && t.Year() >= 1900 {
			return t.Unix(), nil
		}
	}
	if t, err := query.ParseTime(s, now); err == nil {
		return t, nil
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
	for _, layout := range []string{"15:04_20060102", "15:0420060102", "15:04 20060102", "20060102", "01/02/06", "01/02/2006", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("time %q is not one of: now, unix seconds, -6h, -5min, now-1h, HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY, RFC 3339", s)
}

// parseShift reads timeShift's interval: "1d", "-7d", "+1h", "2weeks". Without a sign the
// shift is into the past, as Graphite reads it.
func parseShift(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time shift")
	}
	if s[0] != '-' && s[0] != '+' {
		s = "-" + s
	}
	return query.ParseOffset(s)
}
