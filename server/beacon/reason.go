package beacon

import (
	"fmt"
	"net/http"
)

// Reason says why a beacon was not aggregated (DESIGN §3). It maps, here and only here, to
// the metric label of rumd_beacons_rejected_total, the JSON "reason" and the HTTP status.
type Reason uint8

// The rejection reasons; OK means accepted.
const (
	OK Reason = iota
	Malformed
	TooLarge
	NonMonotonic
	Negative
	FutureMark
	ClockJump
	ClockSkew
	OutOfRange
	Concealed
	Bot
	RateLimited
	Overloaded
	numReasons
)

var reasonNames = [numReasons]string{
	"ok", "malformed", "too_large", "non_monotonic", "negative", "future_mark",
	"clock_jump", "clock_skew", "out_of_range", "concealed", "bot", "rate_limited",
	"overloaded",
}

// String returns the reason's metric label and JSON name, e.g. "clock_skew".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Status returns the HTTP status that answers a beacon with this reason: 204 for OK, 413 for
// too_large, 429 for rate_limited, 503 for overloaded and 400 for every data problem.
func (r Reason) Status() int {
	switch r {
	case OK:
		return http.StatusNoContent
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Overloaded:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// Reasons lists every non-OK reason, for pre-registering metric label values.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := Malformed; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}
