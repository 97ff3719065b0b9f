package loadtest

import (
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Baseline is a bare fiber handler that reads the body of every POST and answers 204: the
// most a collector on this stack could do, measured with the same load tool to give the
// headline ratio.
type Baseline struct {
	app *fiber.App
	ln  net.Listener
	err chan error
}

// StartBaseline serves the bare handler on addr (e.g. "127.0.0.1:0") at path.
func StartBaseline(addr, path string) (*Baseline, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("baseline listen %s: %w", addr, err)
	}
	if err := checkLoopback("http://" + ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 1 << 20})
	app.Post(path, func(c *fiber.Ctx) error {
		_ = c.Body()
		return c.SendStatus(fiber.StatusNoContent)
	})
	// boomerang's image beacons are GETs.
	app.Get(path, func(c *fiber.Ctx) error {
		_ = c.Request().URI().QueryString()
		return c.SendStatus(fiber.StatusNoContent)
	})
	b := &Baseline{app: app, ln: ln, err: make(chan error, 1)}
	go func() { b.err <- app.Listener(ln) }()
	return b, nil
}

// URL is the base URL the baseline answers on.
func (b *Baseline) URL() string { return "http://" + b.ln.Addr().String() }

// Close stops the baseline.
func (b *Baseline) Close() error {
	if err := b.app.ShutdownWithTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("baseline shutdown: %w", err)
	}
	return <-b.err
}
