package outbound

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/workflow"
)

// Flow is the context a workflow step runs in.
type Flow struct {
	// Contract the flow runs for; empty when none.
	Contract contract.ID
	// Thread is the request id the subject token carries ("123" for
	// "[#REQ-123]").
	Thread string
	// Vars are the template variables.
	Vars workflow.Vars
	// InReplyTo and References thread the message under an earlier one.
	InReplyTo  string
	References []string
	// Attachments are added to every message.
	Attachments []store.Attachment
}

// RunResult is what a Runner did.
type RunResult struct {
	// Decision says which mailbox and why (Decision.Reason()).
	Decision routing.Decision
	// IDs are the outbox records enqueued, one per message.
	IDs []string
	// Expansion tells which recipients were found, and which users had no
	// address or which addresses were invalid.
	Expansion workflow.Expansion
}

// Runner turns a workflow.EmailConnector and its flow into enqueued
// messages: it resolves the mailbox, expands the recipients through the
// host's Directory, renders the templates and enqueues one message per
// recipient (or one with the others in Bcc).
type Runner struct {
	Resolver  routing.Resolver
	Directory workflow.Directory
	Sender    *Sender
}

// Run executes the step. Errors are the resolver's *routing.ResolveError,
// workflow.ErrNoRecipients, a *workflow.TemplateError, or an enqueue error;
// messages already enqueued when a later one fails are listed in IDs.
func (r *Runner) Run(ctx context.Context, c *workflow.EmailConnector, f Flow) (RunResult, error) {
	var res RunResult
	if err := c.Validate(); err != nil {
		return res, err
	}
	d, err := r.Resolver.Resolve(ctx, routing.RequestFor(c, f.Contract))
	res.Decision = d
	if err != nil {
		return res, err
	}
	exp, err := workflow.Expand(ctx, r.Directory, c.Recipients)
	res.Expansion = exp
	if err != nil {
		return res, err
	}
	tpl, err := workflow.Compile(c.Subject, c.Text, c.HTML)
	if err != nil {
		return res, err
	}
	body, err := tpl.Render(f.Vars)
	if err != nil {
		return res, err
	}
	for _, batch := range exp.Batches(c.Delivery) {
		msg := store.Message{
			Mailbox:     d.Mailbox.ID,
			To:          []store.Address{{Name: batch[0].Name, Address: batch[0].Address}},
			Subject:     body.Subject,
			Text:        body.Text,
			HTML:        body.HTML,
			Attachments: f.Attachments,
			InReplyTo:   f.InReplyTo,
			References:  f.References,
			Thread:      f.Thread,
			Contract:    f.Contract,
			Rule:        d.Rule,
			Reason:      d.Reason(),
		}
		for _, rc := range batch[1:] {
			msg.Bcc = append(msg.Bcc, store.Address{Name: rc.Name, Address: rc.Address})
		}
		id, err := r.Sender.Enqueue(ctx, msg)
		if err != nil {
			return res, fmt.Errorf("outbound: enqueue for %s: %w", batch[0].Address, err)
		}
		res.IDs = append(res.IDs, id)
	}
	return res, nil
}
