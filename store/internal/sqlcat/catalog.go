package sqlcat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
)

// Q runs statements, inside a transaction or on a pool. SQL is written with
// ? placeholders; the Postgres dialect rewrites them.
type Q interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Scanner
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Scanner is one row.
type Scanner interface{ Scan(dest ...any) error }

// Constraint is the kind of integrity violation a database reported.
type Constraint int

// Violations.
const (
	NoViolation Constraint = iota
	Unique
	ForeignKey
	Check
)

// Dialect is what differs between the SQL stores.
type Dialect struct {
	// Write runs fn in a transaction serialized with other catalog writers
	// (BEGIN IMMEDIATE on SQLite; the version row lock on Postgres).
	Write func(ctx context.Context, fn func(Q) error) error
	// Read runs fn in a transaction that sees one consistent state.
	Read func(ctx context.Context, fn func(Q) error) error
	// Violation classifies a constraint error.
	Violation func(err error) Constraint
	// NoRows reports the "no rows" error of QueryRow.Scan.
	NoRows func(err error) bool
	// Changed, when set, runs in the writing transaction after the version
	// bump (Postgres: pg_notify).
	Changed func(ctx context.Context, q Q, version int64) error
}

// Core implements the catalog over a Dialect.
type Core struct {
	D      Dialect
	Codec  secrets.Codec
	Tokens TokenSources

	snap atomic.Pointer[Snapshot]
	mu   sync.Mutex // serializes Refresh
}

// Snapshot returns the current snapshot (never nil after the first Refresh).
func (c *Core) Snapshot() *Snapshot { return c.snap.Load() }

// queryView adapts a transaction to contract.View; the first error is kept
// in err (the View methods cannot return one).
type queryView struct {
	ctx context.Context
	q   Q
	noR func(error) bool
	err error
}

func (v *queryView) fail(err error) {
	if v.err == nil {
		v.err = err
	}
}

func (v *queryView) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	var kind string
	err := v.q.QueryRow(v.ctx, "SELECT kind FROM correio_mailboxes WHERE id = ?", string(id)).Scan(&kind)
	if err != nil {
		if !v.noR(err) {
			v.fail(err)
		}
		return nil, false
	}
	k, err := mailbox.ParseKind(kind)
	if err != nil {
		v.fail(err)
		return nil, false
	}
	return &mailbox.Mailbox{ID: id, Kind: k}, true
}

func (v *queryView) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	var owner string
	err := v.q.QueryRow(v.ctx, "SELECT contract_id FROM correio_contract_inbound WHERE mailbox_id = ?", string(id)).Scan(&owner)
	if err != nil {
		if !v.noR(err) {
			v.fail(err)
		}
		return "", false
	}
	return contract.ID(owner), true
}

func (v *queryView) ContractsUsing(id mailbox.ID) []contract.ID {
	rows, err := v.q.Query(v.ctx, `SELECT id FROM correio_contracts WHERE outbound_mailbox = ?
		UNION SELECT contract_id FROM correio_contract_inbound WHERE mailbox_id = ? ORDER BY 1`, string(id), string(id))
	if err != nil {
		v.fail(err)
		return nil
	}
	defer rows.Close()
	var out []contract.ID
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			v.fail(err)
			return nil
		}
		out = append(out, contract.ID(s))
	}
	if err := rows.Err(); err != nil {
		v.fail(err)
	}
	return out
}

func (v *queryView) SystemMailbox() (mailbox.ID, bool) {
	var id string
	err := v.q.QueryRow(v.ctx, "SELECT mailbox_id FROM correio_system WHERE singleton = 1").Scan(&id)
	if err != nil {
		if !v.noR(err) {
			v.fail(err)
		}
		return "", false
	}
	return mailbox.ID(id), true
}

// patch derives the next snapshot from the current one after a write.
type patch func(s *Snapshot) *Snapshot

// write runs fn in a write transaction after bumping the catalog version,
// then updates the snapshot so the writer reads its own write: by applying
// fn's patch when no other writer came in between (a write costs no reload
// of the whole catalog), by a full reload otherwise.
func (c *Core) write(ctx context.Context, fn func(q Q, v *queryView) (patch, error)) error {
	var (
		version int64
		p       patch
	)
	err := c.D.Write(ctx, func(q Q) error {
		p = nil
		if err := q.QueryRow(ctx, "UPDATE correio_catalog_version SET version = version + 1 WHERE singleton = 1 RETURNING version").Scan(&version); err != nil {
			return fmt.Errorf("store: bump catalog version: %w", err)
		}
		v := &queryView{ctx: ctx, q: q, noR: c.D.NoRows}
		var err error
		if p, err = fn(q, v); err != nil {
			return err
		}
		if c.D.Changed != nil {
			return c.D.Changed(ctx, q, version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	if cur := c.snap.Load(); p != nil && cur != nil && cur.Version == version-1 {
		next := p(cur)
		next.Version = version
		c.snap.Store(next)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.Refresh(ctx)
}

// PutMailbox validates m and adds or replaces it (see memory.Catalog).
func (c *Core) PutMailbox(ctx context.Context, m *mailbox.Mailbox) error {
	if m == nil {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "", Code: mailbox.CodeRequired, Message: "mailbox is nil"}}}
	}
	if m.ID == "" {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "id", Code: mailbox.CodeRequired, Message: "id is required"}}}
	}
	if err := m.Validate(); err != nil {
		return err
	}
	row, err := Encode(ctx, c.Codec, m)
	if err != nil {
		return err
	}
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		old, _ := v.Mailbox(m.ID)
		if v.err != nil {
			return nil, v.err
		}
		err := contract.CheckMailboxUpdate(v, old, m)
		if v.err != nil {
			return nil, v.err
		}
		if err != nil {
			return nil, err
		}
		_, err = q.Exec(ctx, `INSERT INTO correio_mailboxes (id, kind, description, address, enabled, settings, secret)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, description = excluded.description,
				address = excluded.address, enabled = excluded.enabled, settings = excluded.settings, secret = excluded.secret`,
			row.ID, row.Kind, row.Description, row.Address, row.Enabled, row.Settings, row.Secret)
		if err != nil {
			if c.D.Violation(err) == ForeignKey {
				return nil, &contract.RuleError{Mailbox: m.ID, Path: "kind", Err: fmt.Errorf("%w (refused by the database)", contract.ErrKindChangeInUse)}
			}
			return nil, err
		}
		// The snapshot gets the mailbox as a reload would read it back, so a
		// row that cannot be read back is never committed.
		var refresh []byte
		if err := q.QueryRow(ctx, "SELECT oauth2_refresh FROM correio_mailboxes WHERE id = ?", row.ID).Scan(&refresh); err != nil {
			return nil, err
		}
		back, err := Decode(ctx, c.Codec, c.Tokens, row, refresh)
		if err != nil {
			return nil, err
		}
		return func(s *Snapshot) *Snapshot { return s.withMailbox(back) }, nil
	})
}

// DeleteMailbox removes a mailbox no contract uses and that is not the
// system mailbox.
func (c *Core) DeleteMailbox(ctx context.Context, id mailbox.ID) error {
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		if _, ok := v.Mailbox(id); !ok {
			if v.err != nil {
				return nil, v.err
			}
			return nil, fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
		}
		err := contract.CheckMailboxRemoval(v, id)
		if v.err != nil {
			return nil, v.err
		}
		if err != nil {
			return nil, err
		}
		_, err = q.Exec(ctx, "DELETE FROM correio_mailboxes WHERE id = ?", string(id))
		if err != nil && c.D.Violation(err) == ForeignKey {
			return nil, &contract.RuleError{Mailbox: id, Err: fmt.Errorf("%w (refused by the database)", contract.ErrMailboxInUse)}
		}
		return func(s *Snapshot) *Snapshot { return s.withoutMailbox(id) }, err
	})
}

// PutContract adds or replaces a contract after contract.CheckSave.
func (c *Core) PutContract(ctx context.Context, ct *contract.Contract) error {
	if ct == nil {
		return &contract.RuleError{Path: "id", Err: fmt.Errorf("%w: contract is nil", contract.ErrInvalid)}
	}
	cp := ct.Clone()
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		err := contract.CheckSave(v, ct)
		if v.err != nil {
			return nil, v.err
		}
		if err != nil {
			return nil, err
		}
		var out any
		if ct.OutboundMailbox != "" {
			out = string(ct.OutboundMailbox)
		}
		if _, err := q.Exec(ctx, `INSERT INTO correio_contracts (id, name, outbound_mailbox) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, outbound_mailbox = excluded.outbound_mailbox`,
			string(ct.ID), ct.Name, out); err != nil {
			if c.D.Violation(err) == ForeignKey {
				return nil, &contract.RuleError{Contract: ct.ID, Mailbox: ct.OutboundMailbox, Path: "outbound_mailbox", Err: fmt.Errorf("%w (refused by the database)", contract.ErrWrongKind)}
			}
			return nil, err
		}
		if _, err := q.Exec(ctx, "DELETE FROM correio_contract_inbound WHERE contract_id = ?", string(ct.ID)); err != nil {
			return nil, err
		}
		for i, id := range ct.InboundMailboxes {
			if _, err := q.Exec(ctx, "INSERT INTO correio_contract_inbound (mailbox_id, contract_id, position) VALUES (?, ?, ?)",
				string(id), string(ct.ID), i); err != nil {
				switch c.D.Violation(err) {
				case Unique:
					return nil, &contract.RuleError{Contract: ct.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w (refused by the database)", contract.ErrInboundTaken)}
				case ForeignKey:
					return nil, &contract.RuleError{Contract: ct.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w (refused by the database)", contract.ErrWrongKind)}
				}
				return nil, err
			}
		}
		return func(s *Snapshot) *Snapshot { return s.withContract(cp) }, nil
	})
}

// DeleteContract removes a contract; its inbound mailboxes become unowned.
func (c *Core) DeleteContract(ctx context.Context, id contract.ID) error {
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		n, err := q.Exec(ctx, "DELETE FROM correio_contracts WHERE id = ?", string(id))
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: contract %q", store.ErrNotFound, id)
		}
		return func(s *Snapshot) *Snapshot { return s.withoutContract(id) }, nil
	})
}

// SetSystemMailbox names the system outbound mailbox; empty clears it.
func (c *Core) SetSystemMailbox(ctx context.Context, id mailbox.ID) error {
	set := func(s *Snapshot) *Snapshot { return s.withSystem(id) }
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		if id == "" {
			_, err := q.Exec(ctx, "DELETE FROM correio_system")
			return set, err
		}
		err := contract.CheckSystemMailbox(v, id)
		if v.err != nil {
			return nil, v.err
		}
		if err != nil {
			return nil, err
		}
		_, err = q.Exec(ctx, `INSERT INTO correio_system (singleton, mailbox_id) VALUES (1, ?)
			ON CONFLICT (singleton) DO UPDATE SET mailbox_id = excluded.mailbox_id`, string(id))
		if err != nil && c.D.Violation(err) == ForeignKey {
			return nil, &contract.RuleError{Mailbox: id, Path: "system_mailbox", Err: fmt.Errorf("%w (refused by the database)", contract.ErrWrongKind)}
		}
		return set, err
	})
}

// SaveRefreshToken seals and saves a mailbox's OAuth2 refresh token (the
// first one, or a rotated one reported by transport.OAuth2Tokens.OnRotate).
// It does not change the catalog version: running token sources already
// hold the new token; snapshots built later pass it to TokenSources.
func (c *Core) SaveRefreshToken(ctx context.Context, id mailbox.ID, tok mailbox.Secret) error {
	var sealed []byte
	if !tok.IsZero() {
		if c.Codec == nil {
			return secrets.ErrNoCodec
		}
		var err error
		if sealed, err = c.Codec.Seal(ctx, RefreshPlace(id), tok); err != nil {
			return err
		}
	}
	return c.D.Write(ctx, func(q Q) error {
		n, err := q.Exec(ctx, "UPDATE correio_mailboxes SET oauth2_refresh = ? WHERE id = ?", sealed, string(id))
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
		}
		return err
	})
}

// RefreshToken returns the stored refresh token of a mailbox (zero when
// none).
func (c *Core) RefreshToken(ctx context.Context, id mailbox.ID) (mailbox.Secret, error) {
	var sealed []byte
	err := c.D.Read(ctx, func(q Q) error {
		return q.QueryRow(ctx, "SELECT oauth2_refresh FROM correio_mailboxes WHERE id = ?", string(id)).Scan(&sealed)
	})
	if err != nil {
		if c.D.NoRows(err) {
			return mailbox.Secret{}, fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
		}
		return mailbox.Secret{}, err
	}
	if len(sealed) == 0 {
		return mailbox.Secret{}, nil
	}
	if c.Codec == nil {
		return mailbox.Secret{}, secrets.ErrNoCodec
	}
	return c.Codec.Open(ctx, RefreshPlace(id), sealed)
}

// Version reads the stored catalog version.
func (c *Core) Version(ctx context.Context) (int64, error) {
	var v int64
	err := c.D.Read(ctx, func(q Q) error {
		return q.QueryRow(ctx, "SELECT version FROM correio_catalog_version WHERE singleton = 1").Scan(&v)
	})
	return v, err
}

// Refresh reloads the snapshot when the stored version moved.
func (c *Core) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.snap.Load(); cur != nil {
		v, err := c.Version(ctx)
		if err != nil {
			return err
		}
		if v == cur.Version {
			return nil
		}
	}
	s, err := c.load(ctx)
	if err != nil {
		return err
	}
	if cur := c.snap.Load(); cur == nil || s.Version >= cur.Version {
		c.snap.Store(s)
	}
	return nil
}

func (c *Core) load(ctx context.Context) (*Snapshot, error) {
	type mbRow struct {
		r       Row
		refresh []byte
	}
	var (
		version int64
		rows    []mbRow
		cts     []*contract.Contract
		system  string
	)
	err := c.D.Read(ctx, func(q Q) error {
		rows, cts, system = nil, nil, ""
		if err := q.QueryRow(ctx, "SELECT version FROM correio_catalog_version WHERE singleton = 1").Scan(&version); err != nil {
			return err
		}
		rs, err := q.Query(ctx, "SELECT id, kind, description, address, enabled, CAST(settings AS TEXT), secret, oauth2_refresh FROM correio_mailboxes")
		if err != nil {
			return err
		}
		for rs.Next() {
			var m mbRow
			if err := rs.Scan(&m.r.ID, &m.r.Kind, &m.r.Description, &m.r.Address, &m.r.Enabled, &m.r.Settings, &m.r.Secret, &m.refresh); err != nil {
				rs.Close()
				return err
			}
			rows = append(rows, m)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		byID := map[string]*contract.Contract{}
		rs, err = q.Query(ctx, "SELECT id, name, COALESCE(outbound_mailbox, '') FROM correio_contracts")
		if err != nil {
			return err
		}
		for rs.Next() {
			var id, name, out string
			if err := rs.Scan(&id, &name, &out); err != nil {
				rs.Close()
				return err
			}
			ct := &contract.Contract{ID: contract.ID(id), Name: name, OutboundMailbox: mailbox.ID(out)}
			byID[id] = ct
			cts = append(cts, ct)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		rs, err = q.Query(ctx, "SELECT contract_id, mailbox_id FROM correio_contract_inbound ORDER BY contract_id, position")
		if err != nil {
			return err
		}
		for rs.Next() {
			var cid, mid string
			if err := rs.Scan(&cid, &mid); err != nil {
				rs.Close()
				return err
			}
			if ct := byID[cid]; ct != nil {
				ct.InboundMailboxes = append(ct.InboundMailboxes, mailbox.ID(mid))
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		err = q.QueryRow(ctx, "SELECT mailbox_id FROM correio_system WHERE singleton = 1").Scan(&system)
		if err != nil && !c.D.NoRows(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load catalog: %w", err)
	}
	mbs := make([]*mailbox.Mailbox, 0, len(rows))
	for _, r := range rows {
		m, err := Decode(ctx, c.Codec, c.Tokens, r.r, r.refresh)
		if err != nil {
			return nil, err
		}
		mbs = append(mbs, m)
	}
	return NewSnapshot(version, mbs, cts, mailbox.ID(system)), nil
}

// Rebind rewrites ? placeholders to $1, $2... (Postgres).
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// resealer is implemented by codecs that can tell a value sealed with a
// retired key (secrets.Keyring).
type resealer interface{ NeedsReseal(sealed []byte) bool }

// Reseal rewrites every secret sealed with a key other than the codec's
// current one, so the old key can be dropped after a rotation. It returns
// how many values it rewrote. Values the codec cannot open fail the whole
// pass (nothing is rewritten).
func (c *Core) Reseal(ctx context.Context) (int, error) {
	rs, ok := c.Codec.(resealer)
	if !ok {
		return 0, nil
	}
	n := 0
	err := c.D.Write(ctx, func(q Q) error {
		n = 0
		type item struct {
			id            string
			secret, fresh []byte
		}
		var items []item
		rows, err := q.Query(ctx, "SELECT id, secret, oauth2_refresh FROM correio_mailboxes")
		if err != nil {
			return err
		}
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.secret, &it.fresh); err != nil {
				rows.Close()
				return err
			}
			if (len(it.secret) > 0 && rs.NeedsReseal(it.secret)) || (len(it.fresh) > 0 && rs.NeedsReseal(it.fresh)) {
				items = append(items, it)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		redo := func(at secrets.Place, b []byte) ([]byte, error) {
			if len(b) == 0 || !rs.NeedsReseal(b) {
				return b, nil
			}
			s, err := c.Codec.Open(ctx, at, b)
			if err != nil {
				return nil, fmt.Errorf("store: reseal mailbox %q %s: %w", at.Mailbox, at.Field, err)
			}
			n++
			return c.Codec.Seal(ctx, at, s)
		}
		for _, it := range items {
			id := mailbox.ID(it.id)
			sec, err := redo(PasswordPlace(id), it.secret)
			if err != nil {
				return err
			}
			fr, err := redo(RefreshPlace(id), it.fresh)
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "UPDATE correio_mailboxes SET secret = ?, oauth2_refresh = ? WHERE id = ?", sec, fr, it.id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
