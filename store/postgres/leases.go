package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
)

// Errors of the leases.
var (
	// ErrLeaseHeld: another replica holds an unexpired lease.
	ErrLeaseHeld = errors.New("postgres: mailbox lease held by another replica")
	// ErrFenced: the fencing token is not the current one for the mailbox
	// (the lease expired and another replica took it, or it was released);
	// the caller must not commit and must stop working on the mailbox.
	ErrFenced = errors.New("postgres: lease lost (fencing token is stale)")
)

// Lease is one replica's right to work on one mailbox until Expires.
type Lease struct {
	Mailbox mailbox.ID
	Owner   string
	// Token is the fencing token: larger for every acquisition of any
	// lease, unchanged by renewals. Pass it to CheckFence.
	Token   int64
	Expires time.Time
}

// Leases spread mailboxes over the replicas of a host: a lease row per
// mailbox with an expiry and a fencing token, in correio_leases.
//
// Typical use, by the poller of each replica every TTL/3:
//
//	held, err := leases.ClaimFairShare(ctx, replicaID, enabledInbound, 30*time.Second)
//	// poll the mailboxes in held; stop polling the ones no longer there;
//	// commit each checkpoint in a transaction that calls
//	// CheckFence(ctx, tx, mailbox, lease.Token) first.
//
// Time comes from the database (clock_timestamp()) unless Clock is set, so
// replicas with skewed clocks agree on expiry; tests set Clock to a
// clock.Fake to expire leases without sleeping.
//
// Why not cirello.io/pglock: it keeps one heartbeat goroutine per lock and
// renews each lock in its own SERIALIZABLE transaction, so 10,000 mailboxes
// cost 10,000 goroutines and 10,000 transactions per heartbeat period; its
// record version number changes on every heartbeat, so it cannot serve as a
// fencing token checked at checkpoint commit; it has no notion of a fair
// share; and it goes through database/sql and lib/pq rather than pgx. Here a
// replica renews all its leases with one statement (about 7 µs per lease,
// see BenchmarkLeaseRenew10k) and tokens change only on acquisition.
type Leases struct {
	db    *Store
	Clock clock.Clock
}

// Leases returns the store's mailbox leases, timed by the database clock.
func (s *Store) Leases() *Leases { return &Leases{db: s} }

// now returns the injected time, or nil so the SQL uses clock_timestamp().
func (l *Leases) now() any {
	if l.Clock == nil {
		return nil
	}
	return l.Clock.Now()
}

const nowSQL = "COALESCE($1::timestamptz, clock_timestamp())"

// Mailbox lists are joined with unnest($n::text[]) rather than tested with
// = ANY($n): pgx prepares statements, and under a generic plan = ANY over
// a 10,000-element parameter is a linear scan per row (10,000 x 10,000
// comparisons), while the join hashes it.

func ids(mbs []mailbox.ID) []string {
	out := make([]string, 0, len(mbs))
	for _, m := range mbs {
		out = append(out, string(m))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func scanLeases(rows pgx.Rows, owner string) ([]Lease, error) {
	var out []Lease
	for rows.Next() {
		var l Lease
		var id string
		if err := rows.Scan(&id, &l.Token, &l.Expires); err != nil {
			return nil, err
		}
		l.Mailbox, l.Owner = mailbox.ID(id), owner
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortLeases(out)
	return out, nil
}

// sortLeases sorts ls by mailbox.
func sortLeases(ls []Lease) {
	slices.SortFunc(ls, func(a, b Lease) int { return cmp.Compare(a.Mailbox, b.Mailbox) })
}

// retryConflicts runs fn again, up to five times in all, while PostgreSQL
// aborts it for a deadlock (40P01) or a serialization failure (40001):
// replicas claiming at the same moment can deadlock on each other's rows.
func retryConflicts(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var pe *pgconn.PgError
		if err == nil || attempt == 4 || !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
}

// The statements of the lease rounds ($1 is the clock, see nowSQL).
const (
	// heartbeatSQL records replica $2's heartbeat.
	heartbeatSQL = `INSERT INTO correio_lease_replicas (owner, seen_at) VALUES ($2, ` + nowSQL + `)
			ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at`
	// liveReplicasSQL counts the replicas whose heartbeat is within $2.
	liveReplicasSQL = `SELECT count(*) FROM correio_lease_replicas WHERE seen_at > ` + nowSQL + ` - $2::interval`
	// renewSQL extends by $4 owner $3's leases of the mailboxes $2.
	renewSQL = `UPDATE correio_leases l SET expires_at = ` + nowSQL + ` + $4::interval
			FROM unnest($2::text[]) AS m(id)
			WHERE l.owner = $3 AND l.mailbox_id = m.id
			RETURNING l.mailbox_id, l.token, l.expires_at`
	// claimSQL claims for owner $3, for $4, up to $5 free or expired
	// leases among the mailboxes $2. Candidates are picked by a hash of
	// mailbox and owner, so replicas claiming at the same moment mostly
	// pick different mailboxes; a collision is settled by the conflict
	// clause. They are inserted in mailbox order, so concurrent claims
	// lock rows in the same order.
	claimSQL = `
				WITH cand AS (
					SELECT m.id FROM unnest($2::text[]) AS m(id)
					LEFT JOIN correio_leases l ON l.mailbox_id = m.id
					WHERE l.mailbox_id IS NULL OR l.expires_at <= ` + nowSQL + `
					ORDER BY hashtext(m.id || $3) LIMIT $5
				)
				INSERT INTO correio_leases AS l (mailbox_id, owner, token, expires_at)
				SELECT id, $3, nextval('correio_lease_token'), ` + nowSQL + ` + $4::interval FROM cand ORDER BY id
				ON CONFLICT (mailbox_id) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
				WHERE l.expires_at <= ` + nowSQL + `
				RETURNING mailbox_id, token, expires_at`
)

func checkOwner(owner string, ttl time.Duration) error {
	if owner == "" {
		return errors.New("postgres: lease owner (replica ID) is required")
	}
	if ttl <= 0 {
		return errors.New("postgres: lease TTL must be positive")
	}
	return nil
}

// Acquire takes the lease of one mailbox for owner: a free or expired lease
// gets a new fencing token; owner's own lease is renewed (same token);
// another replica's unexpired lease fails with ErrLeaseHeld.
func (l *Leases) Acquire(ctx context.Context, owner string, mb mailbox.ID, ttl time.Duration) (Lease, error) {
	if err := checkOwner(owner, ttl); err != nil {
		return Lease{}, err
	}
	rows, err := l.db.pool.Query(ctx, `
		INSERT INTO correio_leases AS l (mailbox_id, owner, token, expires_at)
		VALUES ($2, $3, nextval('correio_lease_token'), `+nowSQL+` + $4::interval)
		ON CONFLICT (mailbox_id) DO UPDATE SET
			owner = excluded.owner,
			token = CASE WHEN l.owner = excluded.owner AND l.expires_at > `+nowSQL+` THEN l.token ELSE excluded.token END,
			expires_at = excluded.expires_at
		WHERE l.owner = excluded.owner OR l.expires_at <= `+nowSQL+`
		RETURNING mailbox_id, token, expires_at`, l.now(), string(mb), owner, ttl)
	if err != nil {
		return Lease{}, fmt.Errorf("postgres: acquire lease: %w", err)
	}
	got, err := scanLeases(rows, owner)
	if err != nil {
		return Lease{}, fmt.Errorf("postgres: acquire lease: %w", err)
	}
	if len(got) == 0 {
		return Lease{}, fmt.Errorf("%w: mailbox %q", ErrLeaseHeld, mb)
	}
	return got[0], nil
}

// Renew extends owner's leases of mailboxes in one statement and returns
// those still held; a mailbox missing from the result was lost (another
// replica took it after it expired) and must no longer be worked on.
// Renewal keeps the fencing token.
func (l *Leases) Renew(ctx context.Context, owner string, mailboxes []mailbox.ID, ttl time.Duration) ([]Lease, error) {
	if err := checkOwner(owner, ttl); err != nil {
		return nil, err
	}
	rows, err := l.db.pool.Query(ctx, renewSQL, l.now(), ids(mailboxes), owner, ttl)
	if err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	got, err := scanLeases(rows, owner)
	if err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	return got, nil
}

// Release gives up owner's leases of mailboxes (all of them when mailboxes
// is nil), so another replica can take them at once.
func (l *Leases) Release(ctx context.Context, owner string, mailboxes []mailbox.ID) error {
	var err error
	if mailboxes == nil {
		_, err = l.db.pool.Exec(ctx, "DELETE FROM correio_leases WHERE owner = $1", owner)
	} else {
		_, err = l.db.pool.Exec(ctx, "DELETE FROM correio_leases l USING unnest($2::text[]) AS m(id) WHERE l.owner = $1 AND l.mailbox_id = m.id", owner, ids(mailboxes))
	}
	if err != nil {
		return fmt.Errorf("postgres: release leases: %w", err)
	}
	// Replicas waiting for a share (ListenLeases) claim the freed leases
	// at once rather than at their next round.
	if _, err := l.db.pool.Exec(ctx, "SELECT pg_notify($1, $2)", LeaseChannel, owner); err != nil {
		return fmt.Errorf("postgres: release leases: notify: %w", err)
	}
	return nil
}

// Leave releases every lease of owner and removes it from the replicas
// counted by ClaimFairShare (call it on clean shutdown).
func (l *Leases) Leave(ctx context.Context, owner string) error {
	return pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM correio_leases WHERE owner = $1", owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM correio_lease_replicas WHERE owner = $1", owner); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", LeaseChannel, owner)
		return err
	})
}

// ClaimFairShare is one lease round of replica owner over mailboxes (every
// mailbox to be polled, the same list on every replica). It records the
// replica's heartbeat, counts the replicas seen within ttl, renews owner's
// leases, releases those beyond its fair share (ceil(mailboxes/replicas)) or
// no longer listed, and claims free or expired leases up to the share. It
// returns the leases owner holds afterwards, sorted by mailbox.
//
// Run it on every replica about every ttl/3. A new replica gets its share
// once the others' next rounds release their excess; a dead replica's
// leases expire after ttl and the others take them over.
//
// ClaimFairShare releases the excess inside its own transaction, before
// the caller could stop those mailboxes' sessions, so for a moment two
// replicas may poll one mailbox. Package replica uses Round instead
// (which never releases) and releases only after stopping the sessions:
// prefer it to a lease loop of your own.
func (l *Leases) ClaimFairShare(ctx context.Context, owner string, mailboxes []mailbox.ID, ttl time.Duration) ([]Lease, error) {
	if err := checkOwner(owner, ttl); err != nil {
		return nil, err
	}
	all := ids(mailboxes)
	now := l.now()
	var held []Lease
	err := retryConflicts(func() (err error) {
		held, err = l.claimRound(ctx, owner, all, now, ttl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim leases: %w", err)
	}
	return held, nil
}

func (l *Leases) claimRound(ctx context.Context, owner string, all []string, now any, ttl time.Duration) ([]Lease, error) {
	var held []Lease
	err := pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(heartbeatSQL, now, owner)
		b.Queue(liveReplicasSQL, now, ttl)
		b.Queue(`DELETE FROM correio_leases l WHERE l.owner = $1
			AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS m(id) WHERE m.id = l.mailbox_id)`, owner, all)
		b.Queue(renewSQL, now, all, owner, ttl)
		br := tx.SendBatch(ctx, b)
		var replicas int
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if err := br.QueryRow().Scan(&replicas); err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		held, err = scanLeases(rows, owner)
		if err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		share := (len(all) + max(replicas, 1) - 1) / max(replicas, 1)
		switch {
		case len(held) > share:
			excess := held[share:]
			held = held[:share]
			drop := make([]string, 0, len(excess))
			for _, e := range excess {
				drop = append(drop, string(e.Mailbox))
			}
			_, err := tx.Exec(ctx, "DELETE FROM correio_leases l USING unnest($2::text[]) AS m(id) WHERE l.owner = $1 AND l.mailbox_id = m.id", owner, drop)
			return err
		case len(held) < share:
			rows, err := tx.Query(ctx, claimSQL, now, all, owner, ttl, share-len(held))
			if err != nil {
				return err
			}
			got, err := scanLeases(rows, owner)
			if err != nil {
				return err
			}
			held = append(held, got...)
			sortLeases(held)
		}
		return nil
	})
	return held, err
}

// CheckFence verifies, inside the caller's transaction, that token is still
// the mailbox's current fencing token, and locks the lease row (FOR SHARE)
// so no other replica can take the lease over until the transaction ends.
// Call it first in the transaction that commits a checkpoint: a replica
// that lost its lease gets ErrFenced and must roll back.
//
// An expired lease that nobody took over still passes: no other replica
// got a token, so the commit is safe.
func CheckFence(ctx context.Context, tx pgx.Tx, mb mailbox.ID, token int64) error {
	var cur int64
	err := tx.QueryRow(ctx, "SELECT token FROM correio_leases WHERE mailbox_id = $1 FOR SHARE", string(mb)).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: mailbox %q has no lease", ErrFenced, mb)
	}
	if err != nil {
		return fmt.Errorf("postgres: check fence: %w", err)
	}
	if cur != token {
		return fmt.Errorf("%w: mailbox %q token %d, current %d", ErrFenced, mb, token, cur)
	}
	return nil
}
