package store

import (
	"context"
	"errors"

	"github.com/correio-dev/correio/mailbox"
)

// MaxStateSize bounds one TransportState value.
const MaxStateSize = 64 << 10

// ErrStateTooLarge is wrapped by the error of a TransportState value over
// MaxStateSize.
var ErrStateTooLarge = errors.New("store: transport state value too large")

// TransportState keeps small records a transport owns per mailbox, under a
// name of the transport's ("graph.subscription": transport/graph's
// change-notification subscription, see graph.StateSubscriptions). Values
// are opaque bytes of at most MaxStateSize and must hold no secret in
// clear: stores keep them as they are. Deleting a mailbox does not remove
// them (the transport's own cleanup does). Implementations are safe for
// concurrent use; store/memory and the SQL stores implement it.
type TransportState interface {
	// State returns the value of (mb, name); ok is false when none is kept.
	State(ctx context.Context, mb mailbox.ID, name string) (value []byte, ok bool, err error)
	// PutState adds or replaces the value of (mb, name).
	PutState(ctx context.Context, mb mailbox.ID, name string, value []byte) error
	// DeleteState removes the value of (mb, name); none is not an error.
	DeleteState(ctx context.Context, mb mailbox.ID, name string) error
	// States returns every mailbox's value of name.
	States(ctx context.Context, name string) (map[mailbox.ID][]byte, error)
}
