// Package inbound is correio's inbound engine: a Poller reads any number of
// mailboxes at once, through the transport each one names (IMAP by default;
// any transport.Source the host registers), and hands every message to the
// host's Handler exactly once per mailbox, parsed, classified and matched
// to its thread.
//
// # Mailboxes and lifecycle
//
// The Poller runs the inbound mailboxes of Options.Catalog that
// Options.Assignment runs (all by default), and follows the catalog's
// changes while it runs: a new mailbox starts, a changed one restarts with
// its new settings once its in-flight hand-off finished, a disabled or
// removed one stops. It has the lifecycle of both engines (package engine):
// Start, Stop, Run and Reload.
//
// # Flow
//
// For each mailbox a worker opens a session of its transport
// (Options.Source, a transport.Source: IMAP by default, transport/imap),
// which selects the folder; checks the stored Checkpoint's cursor against
// the mailbox (Session.Resume: for IMAP, UIDVALIDITY), lists the messages
// after it, fetches them in batches into spools (large messages go to disk),
// parses (package message), classifies (bounce, auto-reply, loop, list),
// matches the thread (In-Reply-To / References against threading.SentIndex,
// then the subject token), resolves the contract (routing.Catalog; the
// thread's contract wins and the mismatch is flagged) and calls
// Handler.HandleMessage. Only after the handler returns nil does the Store
// record the message's key and advance the checkpoint, atomically; then the
// post-action (\Seen, move, delete, keep, as the transport offers) is
// applied on the server, batched. The worker then waits on the session
// (Session.Wait: IMAP IDLE where the server offers it), or polls on the
// open session.
//
// # Guarantees
//
//   - No message leaves the server's view before the handler succeeded and
//     its key was recorded.
//   - The key (Message-ID plus a hash of the raw message, see Key) is
//     checked before every hand-off, so a UIDVALIDITY change, a message
//     moved back or a mailbox removed and added again never hands a message
//     twice. A crash between the host's own commit and the Store's can
//     repeat one call: the Delivery's Key lets the host deduplicate it.
//   - A temporary handler error (wrap nothing; just return it) pauses that
//     mailbox and retries the same message with backoff. Permanent(err)
//     quarantines the message (raw kept with the reason, optionally moved
//     to a folder) and the mailbox goes on; so does an unreadable or
//     oversized message.
//   - Isolation: each mailbox has its own worker, circuit breaker and
//     backoff; connections are capped in total and per server host, fetches
//     in total; every network operation has a deadline. A blackholed server
//     holds only its own mailboxes' slots.
//
// # Limits
//
// The Poller owns a connection budget: in total (Options.MaxConnections),
// per server host (Options.MaxConnectionsPerHost) and per account where a
// provider documents a limit (Gmail, Microsoft 365). Up to the budget
// every mailbox keeps a session (push with IDLE, else polling); beyond it
// a share of the budget serves a fair rotation of short sessions (connect,
// check, fetch, hand off, log out), so every mailbox is still checked, at
// an interval that grows with the count. Health says the mode and the last
// and next check; a mailbox not checked within its bound is
// engine.StateOverBudget. README, "Thousands of mailboxes", has the rules
// and the file-descriptor limit.
//
// Health reports each mailbox's state (down when its breaker is open),
// counts and lag, by query (Poller.Health) and as events (Options.OnEvent).
package inbound
