package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Reason is the code of a refused or failed query, stable for clients: the "reason" of
// the JSON error body of both the JSON API and the Graphite API (docs/query.md lists them).
type Reason string

// Reasons of the caller's mistakes (400) and of the server's failures (5xx). A front-end
// may add codes of its own; any code not listed here is a caller's mistake.
const (
	BadMetric       Reason = "bad_metric"       // unknown metric
	BadTime         Reason = "bad_time"         // unreadable or inverted time
	BadStep         Reason = "bad_step"         // unreadable or out-of-range step
	BadQuantile     Reason = "bad_quantile"     // q not in [0, 1], or too many
	BadDimension    Reason = "bad_dimension"    // unknown dimension, or too many
	BadParam        Reason = "bad_param"        // any other bad parameter
	BadSelection    Reason = "bad_selection"    // compare: a and b are the same
	BadRange        Reason = "bad_range"        // the range or step cannot be answered
	NoView          Reason = "no_view"          // no materialised view holds the dimensions
	BadTarget       Reason = "bad_target"       // Graphite: unparsable target
	BadArgument     Reason = "bad_argument"     // Graphite: bad function or endpoint argument
	BadPath         Reason = "bad_path"         // Graphite: path outside the scheme
	BadFormat       Reason = "bad_format"       // Graphite: output format not offered
	UnknownFunction Reason = "unknown_function" // Graphite: function rumd does not have
	NotSummable     Reason = "not_summable"     // Graphite: percentiles cannot be added
	TooManyPoints   Reason = "too_many_points"  // the answer would exceed its point bound
	TooMuchData     Reason = "too_much_data"    // the query would exceed its memory budget
	Timeout         Reason = "timeout"          // the query ran out of time (503)
	Canceled        Reason = "canceled"         // the client went away (503)
	Overloaded      Reason = "overloaded"       // every expensive-read slot stayed busy (503, Retry-After)
	RateLimited     Reason = "rate_limited"     // this client sent too many reads (429, Retry-After)
	Internal        Reason = "internal"         // a fault of rumd or its storage (500)
)

// Status is the HTTP status a query refused or failed for r is answered with.
func (r Reason) Status() int {
	switch r {
	case Timeout, Canceled, Overloaded:
		return http.StatusServiceUnavailable
	case RateLimited:
		return http.StatusTooManyRequests
	case Internal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// Error is a query refused or failed, with its reason code.
type Error struct {
	Reason Reason
	Msg    string
	Err    error // the cause, when there is one
	// RetryAfter, when set, is how long the client should wait before asking again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error of reason r with a formatted message.
func Errorf(r Reason, format string, a ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, a...)}
}

// ErrorBody is the JSON body of every refused or failed query.
type ErrorBody struct {
	Error  string `json:"error"`
	Reason Reason `json:"reason"`
	// RetryAfter is sent as the Retry-After header when set (overloaded, rate_limited).
	RetryAfter time.Duration `json:"-"`
}

// AsError returns err as an Error: itself when it is one, a timeout or cancellation for
// the context's errors, and an internal error otherwise.
func (e *Engine) AsError(err error) *Error {
	var qe *Error
	switch {
	case errors.As(err, &qe):
		return qe
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Reason: Timeout, Msg: fmt.Sprintf("the query took longer than %s; narrow the range, the filters or the group-by", e.opts.Timeout), Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Reason: Canceled, Msg: "the query was canceled", Err: err}
	}
	return &Error{Reason: Internal, Msg: err.Error(), Err: err}
}

// Answer is the one mapping of a query error to its HTTP status and JSON body, for both
// front-ends, and counts it in rumd_query_errors_total{reason}. Server-side failures are
// logged with the endpoint: internal errors as errors, timeouts and cancellations as
// warnings. The caller's mistakes and the refusals of a busy server are not logged.
func (e *Engine) Answer(endpoint string, err error) (int, ErrorBody) {
	qe := e.AsError(err)
	status := qe.Reason.Status()
	e.m.errors.WithLabelValues(string(qe.Reason)).Inc()
	switch {
	case qe.Reason == Internal:
		e.log.Error("query failed", "endpoint", endpoint, "err", err)
	case qe.Reason == Overloaded:
	case status >= 500:
		e.log.Warn("query not answered", "endpoint", endpoint, "reason", string(qe.Reason), "err", err)
	}
	return status, ErrorBody{Error: qe.Msg, Reason: qe.Reason, RetryAfter: qe.RetryAfter}
}
