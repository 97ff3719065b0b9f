package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
)

// TestStepPolicy: the finest resolution still kept for the range's start, coarsened to fit
// the budget; an asked step is kept unless what is stored is coarser.
func TestStepPolicy(t *testing.T) {
	s := newStack(t, base)
	now := time.Unix(base, 0)
	day := int64(86400)
	for _, tc := range []struct {
		name               string
		from, until, asked int64
		budget             int
		want               int64
	}{
		{"last hour", base - 3600, base, 0, 1440, 60},
		{"last day at 1440 points", base - day, base, 0, 1440, 60},
		{"last week at 1440 points", base - 7*day, base, 0, 1440, 420},
		{"last week at 100 points", base - 7*day, base, 0, 100, 2 * 3600},
		{"last week, no budget", base - 7*day, base, 0, 0, 60},
		{"older than the minute retention", base - 30*day, base - 20*day, 0, 1440, 3600},
		{"older than the hour retention", base - 200*day, base - 100*day, 0, 1440, day},
		{"older than the hour retention, few points", base - 200*day, base - 100*day, 0, 10, 10 * day},
		{"asked 5 minutes", base - day, base, 300, 1440, 300},
		{"asked 90 s", base - day, base, 90, 1440, 120},
		{"asked a minute on hour data", base - 30*day, base - 20*day, 60, 1440, 3600},
		{"asked 1.5 h on hour data", base - 30*day, base - 20*day, 5400, 1440, 7200},
		{"asked a minute on day data", base - 200*day, base - 100*day, 60, 1440, day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.eng.Step(now, tc.from, tc.until, tc.asked, tc.budget); got != tc.want {
				t.Fatalf("Step = %d, want %d", got, tc.want)
			}
		})
	}
	// One point over an old range covers whole hours.
	if from, to := s.eng.Span(now, base-30*day+90, base-20*day+90); from%3600 != 0 || to%3600 != 0 || from > base-30*day+90 || to < base-20*day+90 {
		t.Fatalf("span %d..%d is not whole hours around the range", from, to)
	}
	if from, to := s.eng.Span(now, base-3600+90, base); from != base-3600+60 || to != base {
		t.Fatalf("recent span %d..%d, want whole minutes", from-base, to-base)
	}
}

// TestErrorAnswers: one mapping of every query error to a status and a JSON body; only
// server-side failures are logged.
func TestErrorAnswers(t *testing.T) {
	s := newStack(t, base)
	var logged bytes.Buffer
	s.eng.log = slog.New(slog.NewTextHandler(&logged, nil))
	_, noView := s.eng.ViewFor(series.TTFB, &[series.NumDims]func(string) bool{}, []series.Dim{series.Page, series.Variant})
	_, badRange := s.eng.Query(context.Background(), Request{From: base, To: base - 60})
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	_, timedOut := s.eng.Query(expired, Request{From: base - 3600, To: base})
	for _, tc := range []struct {
		name   string
		err    error
		status int
		reason Reason
		logged string
	}{
		{"caller's mistake", Errorf(BadStep, "step: %q is bad", "x"), 400, BadStep, ""},
		{"front-end's own code", Errorf("bad_format", "no png"), 400, "bad_format", ""},
		{"wrapped", fmt.Errorf("render: %w", Errorf(TooManyPoints, "too many")), 400, TooManyPoints, ""},
		{"inverted range", badRange, 400, BadRange, ""},
		{"no view", noView, 400, NoView, ""},
		{"timeout", timedOut, 503, Timeout, "level=WARN"},
		{"storage fault", errors.New("read sketch: disk on fire"), 500, Internal, "level=ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to answer")
			}
			logged.Reset()
			status, body := s.eng.Answer("test", tc.err)
			if status != tc.status || body.Reason != tc.reason || body.Error == "" {
				t.Fatalf("answer %d %+v, want %d %s", status, body, tc.status, tc.reason)
			}
			if tc.logged == "" && logged.Len() > 0 {
				t.Fatalf("a caller's mistake was logged: %s", logged.String())
			}
			if tc.logged != "" && (!strings.Contains(logged.String(), tc.logged) || !strings.Contains(logged.String(), "endpoint=test")) {
				t.Fatalf("log %q, want %s with the endpoint", logged.String(), tc.logged)
			}
		})
	}
	if !errors.Is(badRange, ErrRange) {
		t.Fatal("a bad range no longer wraps ErrRange")
	}
	var nv *NoViewError
	if !errors.As(noView, &nv) {
		t.Fatal("no view error lost its details")
	}
}
