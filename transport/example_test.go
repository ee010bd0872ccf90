package transport_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/transport"
)

// Mailboxes typed in by end users dial through the PublicOnly policy, so
// the library cannot be pointed at the host's own network. The refusal is
// classified like every transport error.
func ExampleNet_Dial() {
	n := transport.Net{Policy: transport.PublicOnly}
	_, err := n.Dial(context.Background(), "imap", "127.0.0.1", 993)
	fmt.Println(transport.ClassOf(err), errors.Is(err, transport.ErrPolicy), errors.Is(err, transport.ErrAddressRefused))
	// Output: policy true true
}
