package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// LeaseChannel is the NOTIFY channel on which Join, Release and Leave
// announce that the replicas or the free leases changed; the payload is
// the replica's ID. See ListenLeases.
const LeaseChannel = "correio_leases"

// The methods of this file are the coordination backend of package
// replica (its Backend interface): Join, Round, Release, Leave and
// ListenLeases. Unlike ClaimFairShare, Round never gives a lease up: a
// replica over its share releases the excess itself once it stopped the
// mailboxes' sessions, so two replicas never run one mailbox at once.

// Join records replica owner's heartbeat without claiming anything and
// tells the other replicas (NOTIFY on LeaseChannel), so they count it in
// their shares before it claims its own. A process joins once, when it
// starts: leases owner still holds are a previous process's of the same
// ID (restarted before they expired), so the outbox claims on their
// mailboxes' records are freed, as at a takeover.
func (l *Leases) Join(ctx context.Context, owner string, ttl time.Duration) error {
	if err := checkOwner(owner, ttl); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, heartbeatSQL, l.now(), owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE correio_outbox o SET claim_token = '', claimed_until_ns = 0
			FROM correio_leases l
			WHERE l.owner = $1 AND o.mailbox_id = l.mailbox_id AND o.state = 1 AND o.claim_token <> ''`, owner); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", LeaseChannel, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: join: %w", err)
	}
	return nil
}

// Round is one lease round of replica owner over mailboxes (every
// mailbox to be run, the same list on every replica): it records the
// heartbeat, counts the live replicas (heartbeat within ttl), renews
// owner's leases among mailboxes, and claims free or expired ones until
// owner holds its fair share, ceil(len(mailboxes)/replicas). It never
// releases: leases beyond the share, and owner's leases of mailboxes no
// longer listed, stay until Release.
//
// A lease claimed from another replica (expired: that replica died or
// stalled) also frees the outbox claims on the mailbox's queued records,
// in the same transaction: their sender was the lease's previous owner,
// so its claims come back at takeover rather than when the Sender's claim
// lease ends.
func (l *Leases) Round(ctx context.Context, owner string, mailboxes []mailbox.ID, ttl time.Duration) (store.LeaseRound, error) {
	if err := checkOwner(owner, ttl); err != nil {
		return store.LeaseRound{}, err
	}
	all := ids(mailboxes)
	now := l.now()
	var r store.LeaseRound
	err := retryConflicts(func() (err error) {
		r, err = l.round(ctx, owner, all, now, ttl)
		return err
	})
	if err != nil {
		return store.LeaseRound{}, fmt.Errorf("postgres: lease round: %w", err)
	}
	return r, nil
}

func (l *Leases) round(ctx context.Context, owner string, all []string, now any, ttl time.Duration) (store.LeaseRound, error) {
	var r store.LeaseRound
	err := pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(heartbeatSQL, now, owner)
		b.Queue(liveReplicasSQL, now, ttl)
		b.Queue(renewSQL, now, all, owner, ttl)
		// The next expiry of a lease whose owner stopped heartbeating
		// (none for half a TTL; live replicas beat every quarter). The
		// replicas table is small: this reads only those owners' leases.
		b.Queue(`SELECT EXTRACT(EPOCH FROM min(l.expires_at) - `+nowSQL+`)::float8
			FROM correio_leases l
			WHERE l.owner IN (SELECT r.owner FROM correio_lease_replicas r
				WHERE r.owner <> $2 AND r.seen_at <= `+nowSQL+` - $3::interval / 2)
			AND l.expires_at > `+nowSQL, now, owner, ttl)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&r.Members); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		held, err := scanLeases(rows, owner)
		if err != nil {
			return err
		}
		var expiring *float64
		if err := br.QueryRow().Scan(&expiring); err != nil {
			return err
		}
		if expiring != nil && *expiring > 0 {
			r.Expiring = time.Duration(*expiring * float64(time.Second))
		}
		if err := br.Close(); err != nil {
			return err
		}
		r.Members = max(r.Members, 1)
		r.Share = (len(all) + r.Members - 1) / r.Members
		if len(held) < r.Share {
			// As in ClaimFairShare (claimSQL); the outbox claims on the
			// mailboxes taken are freed, for a lease taken from another
			// replica.
			rows, err := tx.Query(ctx, claimSQL, now, all, owner, ttl, r.Share-len(held))
			if err != nil {
				return err
			}
			got, err := scanLeases(rows, owner)
			if err != nil {
				return err
			}
			if len(got) > 0 {
				taken := make([]string, 0, len(got))
				for _, g := range got {
					taken = append(taken, string(g.Mailbox))
				}
				if _, err := tx.Exec(ctx, `UPDATE correio_outbox o SET claim_token = '', claimed_until_ns = 0
					FROM unnest($1::text[]) AS m(id)
					WHERE o.mailbox_id = m.id AND o.state = 1 AND o.claim_token <> ''`, taken); err != nil {
					return err
				}
			}
			held = append(held, got...)
			sortLeases(held)
		}
		r.Held = make([]store.MailboxLease, len(held))
		for i, h := range held {
			r.Held[i] = store.MailboxLease{Mailbox: h.Mailbox, Token: h.Token}
		}
		return nil
	})
	return r, err
}

// ListenLeases calls wake with the replica ID of every Join, Release and
// Leave (of any replica), until ctx ends. It LISTENs on a dedicated
// connection and reconnects after a failure, calling wake("") after each
// (re)connection for what it missed.
func (l *Leases) ListenLeases(ctx context.Context, wake func(owner string)) error {
	return l.db.listenChannel(ctx, LeaseChannel, wake)
}
