// Package outbound delivers the system's own mail (request opened, approval
// requested, request completed) through the outbound mailbox the resolver
// picked, durably and without one mailbox ever holding up another.
//
// Sender.Enqueue validates a Message (a CR or LF in any header value is an
// *InputError wrapping workflow.ErrHeaderInjection), fixes its Message-ID on
// the sending mailbox's domain, and returns only once the message is stored
// in an Outbox. A dispatcher then starts, per mailbox with due mail and as
// long as the mailbox's MaxConnections, its circuit breaker and the total
// bound (golang.org/x/sync/semaphore) allow, a worker that claims a batch
// of records with a lease and sends them over one connection of the
// mailbox's transport (Options.Transport, a transport.Sender: by default
// a pooled SMTP connection of transport/smtp), which reports a result per
// recipient. Each record ends Sent, Dead with a reason, or Queued
// again with an exponential backoff; temporary failures are retried until
// MaxAge (24 h), permanent refusals kill the recipient at once and add it
// to the suppression list. A claimed record whose send did not finish goes
// back to the queue, so a crash resends at most the message in flight on
// each connection, with the same Message-ID.
//
// Every message carries "Auto-Submitted: auto-generated", the loop marker
// threading.LoopHeader naming the mailbox, and the workflow thread token in
// its subject; From is the mailbox's identity. Runner turns a
// workflow.EmailConnector and its flow into messages. Health reports, per
// mailbox, in the engines' one vocabulary (engine.Health, engine.State):
// the breaker state, the last success and error, and the queue.
//
// The Sender has the lifecycle of both engines (package engine): Start,
// Stop, Run and Reload; it sends the queued mail of the mailboxes its
// Options.Assignment runs (all by default) and leaves the rest queued.
//
// Time comes from a clock.Clock, so retries, leases and breakers are
// tested without sleeping. The Outbox interface is implemented in memory
// by store/memory.Outbox; SQL stores implement the same contract.
package outbound
