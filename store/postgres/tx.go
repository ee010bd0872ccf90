package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// OutboxChannel is the NOTIFY channel on which every enqueued (Queued)
// outbox record is announced when its transaction commits; the payload is
// the mailbox ID. See ListenOutbox.
const OutboxChannel = "correio_outbox"

type txKey struct{}

// WithTx returns a context carrying the host's transaction. Outbox.Put
// called with it — and so outbound.Sender.Enqueue — stores the record
// inside tx: the transactional outbox. The message exists, and will be
// sent, only if tx commits; the Message-ID is fixed before. Enqueue's own
// wake-up of the Sender comes before the commit, so run ListenOutbox (or
// call Sender.Wake after committing) for the Sender to notice the record
// at once rather than at its next scheduled look.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// HandleInTx returns a handler whose hand-off commits in one transaction
// with the host's own writes: for each message it begins a transaction on
// the store's pool, records the delivery's key, calls fn with the
// transaction, moves the mailbox's checkpoint and commits. If fn fails,
// nothing is recorded and the error goes back to the poller as usual (wrap
// it with inbound.Permanent to quarantine). Give it to the poller as
// inbound.HandlerFunc(postgres.HandleInTx(st, fn)), with fn taking the
// *inbound.Delivery; this package does not import the engine.
//
// So a crash between the host's commit and the poller's own record cannot
// hand the message again: the key is already there, and a message whose
// key is found is acknowledged without calling fn. Two replicas racing on
// the same message serialize on the key's unique index, and fn runs once.
//
// Use it with the store's own Inbound as the poller's Store.
func HandleInTx[D store.Handoff](s *Store, fn func(ctx context.Context, tx pgx.Tx, d D) error) func(ctx context.Context, d D) error {
	return handleInTx(s, "", fn)
}

// HandleInTxLeased is HandleInTx for replicas sharing mailboxes through
// Leases: inside the transaction it first checks that replica owner holds
// the mailbox's live lease. A replica that lost its lease gets an error
// matching ErrFenced and store.ErrFenced before fn is called, so a
// stalled replica does not call the host for a mailbox another replica
// took over.
//
// The lease row is read without a lock: a host transaction may be long,
// and locking the row would hold up the replica's lease renewals. If the
// lease moves while fn runs, the new owner's hand-off of the same message
// waits on the key this transaction inserted and then skips the message,
// so the host still sees it once.
func HandleInTxLeased[D store.Handoff](s *Store, owner string, fn func(ctx context.Context, tx pgx.Tx, d D) error) func(ctx context.Context, d D) error {
	return handleInTx(s, owner, fn)
}

func handleInTx[D store.Handoff](s *Store, owner string, fn func(ctx context.Context, tx pgx.Tx, d D) error) func(ctx context.Context, d D) error {
	return func(ctx context.Context, d D) error {
		r := d.HandoffRecord()
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			if owner != "" {
				var cur string
				err := tx.QueryRow(ctx, "SELECT owner FROM correio_leases WHERE mailbox_id = $1 AND expires_at > clock_timestamp()", string(r.Mailbox)).Scan(&cur)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("postgres: lease check: %w", err)
				}
				if cur != owner {
					return fmt.Errorf("%w (%w): mailbox %q is not leased by %q", store.ErrFenced, ErrFenced, r.Mailbox, owner)
				}
			}
			_, err := s.Inbound().HandOff(ctx, pgQ{tx}, r, func() error { return fn(ctx, tx, d) })
			return err
		})
	}
}

// ListenOutbox calls wake with the mailbox of every Queued record
// committed to the outbox (by any replica, in any transaction), until ctx
// ends. It LISTENs on a dedicated connection and reconnects after a
// failure; after each (re)connection it calls wake once with an empty
// mailbox ID, for records committed while it was not listening. Typical use: go st.ListenOutbox(ctx, func(mailbox.ID) { sender.Wake() }).
func (s *Store) ListenOutbox(ctx context.Context, wake func(mailbox.ID)) error {
	return s.listenChannel(ctx, OutboxChannel, func(p string) { wake(mailbox.ID(p)) })
}

// listenChannel calls fn with the payload of every notification on channel until
// ctx ends, reconnecting after a failure; after each (re)connection it
// calls fn("") once, for what was sent while it was not listening.
func (s *Store) listenChannel(ctx context.Context, channel string, fn func(payload string)) error {
	backoff := 100 * time.Millisecond
	for {
		conn, err := s.listenOn(ctx, channel)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("correio/postgres: LISTEN failed; retrying", "channel", channel, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		fn("")
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = conn.Close(cctx)
				cancel()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("correio/postgres: notification connection lost", "channel", channel, "err", err)
				break
			}
			fn(n.Payload)
		}
	}
}

func (s *Store) listenOn(ctx context.Context, channel string) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		_ = conn.Close(cctx)
		return nil, err
	}
	return conn, nil
}

// Leaser returns a store.Leaser for the poller of replica owner: the
// fencing token of the mailbox's live lease held by owner (taken with
// Acquire or ClaimFairShare). A mailbox the replica does not hold fails
// with ErrFenced, and the InboundStore refuses commits whose token is not
// the lease's current one.
func (l *Leases) Leaser(owner string) store.Leaser { return leaser{l, owner} }

type leaser struct {
	l     *Leases
	owner string
}

func (f leaser) Fence(ctx context.Context, mb mailbox.ID) (int64, error) {
	var tok int64
	err := f.l.db.pool.QueryRow(ctx, "SELECT token FROM correio_leases WHERE mailbox_id = $1 AND owner = $2 AND expires_at > "+nowSQL3,
		string(mb), f.owner, f.l.now()).Scan(&tok)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: mailbox %q is not leased by %q", ErrFenced, mb, f.owner)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: lease fence: %w", err)
	}
	return tok, nil
}

const nowSQL3 = "COALESCE($3::timestamptz, clock_timestamp())"
