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
// A running mailbox holds one connection, also while it waits in IDLE or
// between polls (the cheap check runs on the open session). The caps
// (Options.MaxConnections, Options.MaxConnectionsPerHost) therefore bound
// how many mailboxes run at once; a mailbox beyond them shows
// engine.StateQueued until a slot frees up. Size them to the mailboxes that must run together.
//
// Health reports each mailbox's state (down when its breaker is open),
// counts and lag, by query (Poller.Health) and as events (Options.OnEvent).
package inbound
