// Package workflow defines the workflow step "send message by email"
// (EmailConnector), the host's user Directory and recipient expansion,
// and template rendering. The thread token put in subjects, so a customer's
// reply can be matched to its request, is package threading's.
//
// The package is pure: it does no I/O beyond calling the host's Directory.
package workflow

import (
	"fmt"

	"github.com/correio-dev/correio/mailbox"
)

// MailboxChoice says which outbound mailbox an EmailConnector sends through.
type MailboxChoice int

const (
	// System, the zero value and default: the system outbound mailbox.
	System MailboxChoice = iota
	// Contract: the outbound mailbox of the contract the flow runs for
	// (the system mailbox when the flow has no contract or the contract
	// names none).
	Contract
	// Specific: the mailbox named in EmailConnector.MailboxID.
	Specific
)

// String returns "system", "contract" or "specific".
func (c MailboxChoice) String() string {
	switch c {
	case System:
		return "system"
	case Contract:
		return "contract"
	case Specific:
		return "specific"
	}
	return fmt.Sprintf("MailboxChoice(%d)", int(c))
}

// ParseMailboxChoice is the inverse of MailboxChoice.String.
func ParseMailboxChoice(s string) (MailboxChoice, error) {
	switch s {
	case "system", "":
		return System, nil
	case "contract":
		return Contract, nil
	case "specific":
		return Specific, nil
	}
	return System, fmt.Errorf("workflow: unknown mailbox choice %q", s)
}

// UserID and GroupID identify users and groups in the host's Directory.
type (
	UserID  string
	GroupID string
)

// Recipients of an EmailConnector: users and groups of the host's
// directory, and plain addresses as an extra.
type Recipients struct {
	Users     []UserID
	Groups    []GroupID
	Addresses []string
}

// DeliveryMode says how the expanded recipients are addressed.
type DeliveryMode int

const (
	// PerRecipient sends one message per recipient (the default), so
	// customers never see each other's addresses.
	PerRecipient DeliveryMode = iota
	// SingleBcc sends one message: the first recipient in To and the others
	// in Bcc.
	SingleBcc
)

// EmailConnector is the workflow step "send message by email".
type EmailConnector struct {
	Name string
	// Mailbox choice; System when zero.
	Mailbox MailboxChoice
	// MailboxID names the mailbox of the Specific choice.
	MailboxID  mailbox.ID
	Recipients Recipients
	Delivery   DeliveryMode
	// Subject and Text are text/template sources; HTML is an html/template
	// source. Variables come from the flow (see Vars).
	Subject string
	Text    string
	HTML    string
}

// Validate checks the connector's shape (not whether its mailbox exists:
// the resolver does that when it runs).
func (c *EmailConnector) Validate() error {
	ve := &mailbox.ValidationError{}
	add := func(path string, code mailbox.Code, msg string) {
		ve.Errors = append(ve.Errors, &mailbox.FieldError{Path: path, Code: code, Message: msg})
	}
	switch c.Mailbox {
	case System, Contract:
		if c.MailboxID != "" {
			add("mailbox_id", mailbox.CodeConflict, "a mailbox is named only with the specific choice")
		}
	case Specific:
		if c.MailboxID == "" {
			add("mailbox_id", mailbox.CodeRequired, "the specific choice needs a mailbox")
		}
	default:
		add("mailbox", mailbox.CodeUnsupported, "mailbox choice must be system, contract or specific")
	}
	if len(c.Recipients.Users)+len(c.Recipients.Groups)+len(c.Recipients.Addresses) == 0 {
		add("recipients", mailbox.CodeRequired, "at least one user, group or address is required")
	}
	if c.Subject == "" {
		add("subject", mailbox.CodeRequired, "subject is required")
	}
	if c.Text == "" && c.HTML == "" {
		add("text", mailbox.CodeRequired, "a text or HTML body is required")
	}
	if _, err := Compile(c.Subject, c.Text, c.HTML); err != nil {
		add("templates", mailbox.CodeInvalid, err.Error())
	}
	if len(ve.Errors) == 0 {
		return nil
	}
	return ve
}
