package inbound

import "github.com/correio-dev/correio/engine"

// Event is a health change, delivered to Options.OnEvent: the engines' one
// event type (engine.Event; outbound.Event.HealthEvent gives the Sender's
// in the same form). The Health uses the engines' one vocabulary
// (engine.State); an inbound mailbox goes through starting, connecting,
// queued, waiting, fetching, retrying, down, paused, auth_failed,
// reauth_required, over_budget, disabled and stopped. A state that needs a
// person (Health.NeedsPerson: auth_failed, reauth_required, down,
// over_budget) is one event when it starts, not one per retry, with
// Health.Hint saying what to do.
type Event = engine.Event
