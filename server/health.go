package server

import (
	"github.com/gofiber/fiber/v2"
)

// Status is a component's health, worst last.
type Status int

// The statuses of the readiness tree.
const (
	Healthy Status = iota
	Unknown
	Warning
	Critical
)

var statusNames = [...]string{"healthy", "unknown", "warning", "critical"}

// String names the status.
func (s Status) String() string { return statusNames[s] }

// MarshalText writes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Health is one component's state and what explains it.
type Health struct {
	Status     Status         `json:"status"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Check is one named dependency of the readiness tree.
type Check struct {
	Name  string
	Check func() Health
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": Healthy})
}

type readiness struct {
	Status     Status            `json:"status"`
	Components map[string]Health `json:"components"`
}

// readyz answers the readiness tree: rumd's status is its worst dependency's, and a
// critical one makes the answer 503 so a load balancer stops sending beacons.
func (s *Server) readyz(c *fiber.Ctx) error {
	r := readiness{Components: map[string]Health{}}
	for _, ch := range s.deps.Checks {
		h := ch.Check()
		r.Components[ch.Name] = h
		if h.Status == Critical || (h.Status == Warning && r.Status != Critical) {
			r.Status = max(r.Status, h.Status)
		}
	}
	code := fiber.StatusOK
	if r.Status == Critical {
		code = fiber.StatusServiceUnavailable
	}
	return c.Status(code).JSON(r)
}
