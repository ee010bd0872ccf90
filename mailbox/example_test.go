package mailbox_test

import (
	"errors"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
)

// Validate reports every problem at once, each with a stable path and code
// a form can translate.
func ExampleMailbox_Validate() {
	m := &mailbox.Mailbox{
		ID:   "sales-out",
		Kind: mailbox.Outbound,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: "smtp.example.com", Port: 70000, Security: mailbox.SecurityPlaintext},
			Credentials: mailbox.Credentials{Username: "sales", Password: mailbox.NewSecret("pw")},
			From:        mailbox.Identity{Address: "sales@example.com"},
		},
	}
	err := m.Validate()
	var ve *mailbox.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Println(fe.Path, fe.Code)
		}
	}
	// Output:
	// description required
	// outbound.server.port out_of_range
	// outbound.server.security insecure
}

// A Secret redacts itself wherever it is printed or logged.
func ExampleSecret() {
	pw := mailbox.NewSecret("hunter2")
	fmt.Println(pw, fmt.Sprintf("%#v", pw))
	// Output: [REDACTED] mailbox.Secret([REDACTED])
}
