package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a time as the APIs accept it: "now", unix seconds, RFC 3339, or a
// relative offset from now such as "-6h", "-5min", "-7d", "now-1h" (units s, sec, m, min,
// h, d, w, mon = 30 d, y = 365 d, and their plurals).
func ParseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, fmt.Errorf("empty time")
	case s == "now":
		return now.Unix(), nil
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
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("unix time %d out of range", n)
		}
		return n, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Unix(), nil
	}
	return 0, fmt.Errorf("time %q is not now, unix seconds, RFC 3339 or a relative offset like -6h", s)
}

var offsetUnits = []struct {
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

// ParseOffset reads a signed offset such as "-6h" or "+30min".
func ParseOffset(s string) (time.Duration, error) {
	if len(s) < 3 || (s[0] != '-' && s[0] != '+') {
		return 0, fmt.Errorf("offset %q must look like -6h or +30min", s)
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[1:i], 10, 64)
	if err != nil || n > 1e6 {
		return 0, fmt.Errorf("offset %q has no usable number", s)
	}
	unit := s[i:]
	for _, u := range offsetUnits {
		for _, name := range u.names {
			if unit == name {
				d := time.Duration(n) * u.d
				if s[0] == '-' {
					d = -d
				}
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf("offset %q has an unknown unit %q (s, min, h, d, w, mon, y)", s, unit)
}
