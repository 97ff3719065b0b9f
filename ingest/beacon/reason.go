package beacon

import "fmt"

// Reason says why a beacon was not aggregated (docs/design.md, "Rejection rules"). Its
// String is the metric label of rumd_beacons_rejected_total and the JSON "reason"; the HTTP
// layer maps it to a status in one function of its own.
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
	StorageFull
	numReasons
)

var reasonNames = [numReasons]string{
	"ok", "malformed", "too_large", "non_monotonic", "negative", "future_mark",
	"clock_jump", "clock_skew", "out_of_range", "concealed", "bot", "rate_limited",
	"overloaded", "storage_full",
}

// String returns the reason's metric label and JSON name, e.g. "clock_skew".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons lists every non-OK reason, for pre-registering metric label values.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := Malformed; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// DropReasons lists the reasons for dropping a single metric rather than the whole beacon
// (Validate's, and non_monotonic for marks their sender flagged, such as boomerang's
// nt_bad), for pre-registering metric label values.
func DropReasons() []Reason { return []Reason{Negative, Concealed, OutOfRange, NonMonotonic} }
