package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/correio-dev/correio/store"
)

// Administrators' changes to queued records. Each is one UPDATE whose WHERE
// clause requires the record queued and unclaimed, so it never races a
// Sender's claim (an UPDATE too): whichever commits first wins, and the
// loser learns why from explain.

// explain tells why an administrator's write changed no row.
func (d *Outbox) explain(ctx context.Context, q Q, id string) error {
	var st int
	var token string
	err := q.QueryRow(ctx, "SELECT state, claim_token FROM correio_outbox WHERE id = ?", id).Scan(&st, &token)
	switch {
	case d.noRows(err):
		return fmt.Errorf("%w: %q", store.ErrNotFound, id)
	case err != nil:
		return err
	case store.OutboxState(st) != store.Queued:
		return fmt.Errorf("%w: %q is %s", store.ErrNotQueued, id, store.OutboxState(st))
	case token != "":
		return fmt.Errorf("%w: %q", store.ErrClaimed, id)
	}
	return fmt.Errorf("outbox record %q changed meanwhile; try again", id)
}

// Reschedule implements store.Outbox.
func (d *Outbox) Reschedule(ctx context.Context, id string, at time.Time) error {
	return d.write(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE correio_outbox SET next_ns = ?, updated_ns = ?
			WHERE id = ? AND state = 1 AND claim_token = ''`, ns(at), time.Now().UnixNano(), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.explain(ctx, q, id)
		}
		return nil
	})
}

// Cancel implements store.Outbox.
func (d *Outbox) Cancel(ctx context.Context, id, reason string) error {
	return d.write(ctx, func(q Q) error {
		var rc string
		err := q.QueryRow(ctx, "SELECT CAST(recipients AS TEXT) FROM correio_outbox WHERE id = ? AND state = 1 AND claim_token = ''", id).Scan(&rc)
		if d.noRows(err) {
			return d.explain(ctx, q, id)
		}
		if err != nil {
			return err
		}
		recs, err := d.queryRecs(ctx, q, true, selectRecs+" WHERE id = ?", id)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("%w: %q", store.ErrNotFound, id)
		}
		r := recs[0]
		store.CancelRecord(r, reason)
		newRc, err := encodeRcpts(r.Recipients)
		if err != nil {
			return err
		}
		// The recipients read above are still the row's (a send in between
		// would have changed them): the write is all or nothing.
		n, err := q.Exec(ctx, `UPDATE correio_outbox SET state = 3, reason = ?, recipients = ?, updated_ns = ?
			WHERE id = ? AND state = 1 AND claim_token = '' AND CAST(recipients AS TEXT) = ?`,
			r.Reason, newRc, time.Now().UnixNano(), id, rc)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.explain(ctx, q, id)
		}
		return nil
	})
}
