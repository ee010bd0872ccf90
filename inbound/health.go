package inbound

import "github.com/correio-dev/correio/engine"

// Event is a health change, delivered to Options.OnEvent. The Health uses
// the engines' one vocabulary (engine.State); an inbound mailbox goes
// through starting, connecting, queued, waiting, fetching, retrying, down,
// paused, disabled and stopped.
type Event struct {
	Health engine.Health
	// Err is the failure that caused the change, if any (redacted).
	Err string
}
