package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
)

// Catalog is the durable mailbox and contract catalog (store.Catalog).
// Writes go to the database inside one transaction that applies the
// contract rules, so errors are the same typed errors as store/memory's;
// reads come from an immutable in-memory snapshot and take no lock, so it
// implements routing.Catalog as fast as memory does. The snapshot is
// reloaded after every write through this Catalog and by Refresh, which the
// drivers call when another process changed the catalog.
//
// Values it returns are shared snapshots: callers must not modify them.
type Catalog struct {
	drv    Driver
	notify CatalogNotifier // nil when the driver has none
	codec  secrets.Codec
	tokens TokenSources

	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serializes Refresh
}

var (
	_ store.Catalog   = (*Catalog)(nil)
	_ routing.Catalog = (*Catalog)(nil)
	_ contract.View   = (*Catalog)(nil)
)

// current returns the current snapshot (never nil after the first Refresh).
func (c *Catalog) current() *snapshot { return c.snap.Load() }

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
type patch func(s *snapshot) *snapshot

// write runs fn in a write transaction after bumping the catalog version,
// then updates the snapshot so the writer reads its own write: by applying
// fn's patch when no other writer came in between (a write costs no reload
// of the whole catalog), by a full reload otherwise.
func (c *Catalog) write(ctx context.Context, fn func(q Q, v *queryView) (patch, error)) error {
	var (
		version int64
		p       patch
	)
	err := c.drv.Write(ctx, func(q Q) error {
		p = nil
		if err := q.QueryRow(ctx, "UPDATE correio_catalog_version SET version = version + 1 WHERE singleton = 1 RETURNING version").Scan(&version); err != nil {
			return fmt.Errorf("store: bump catalog version: %w", err)
		}
		v := &queryView{ctx: ctx, q: q, noR: c.drv.NoRows}
		var err error
		if p, err = fn(q, v); err != nil {
			return err
		}
		if c.notify != nil {
			return c.notify.CatalogChanged(ctx, q, version)
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

// PutMailbox validates m and adds or replaces it. A change of kind is
// refused while a contract or the system setting uses the mailbox. The
// password is sealed with Options.Secrets; the stored OAuth2 refresh token
// is kept.
func (c *Catalog) PutMailbox(ctx context.Context, m *mailbox.Mailbox) error {
	if m == nil {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "", Code: mailbox.CodeRequired, Message: "mailbox is nil"}}}
	}
	if m.ID == "" {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "id", Code: mailbox.CodeRequired, Message: "id is required"}}}
	}
	if err := m.Validate(); err != nil {
		return err
	}
	row, err := encodeMailbox(ctx, c.codec, m)
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
			if c.drv.Violation(err) == ForeignKey {
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
		back, err := decodeMailbox(ctx, c.codec, c.tokens, row, refresh)
		if err != nil {
			return nil, err
		}
		return func(s *snapshot) *snapshot { return s.withMailbox(back) }, nil
	})
}

// DeleteMailbox removes a mailbox no contract uses and that is not the
// system mailbox.
func (c *Catalog) DeleteMailbox(ctx context.Context, id mailbox.ID) error {
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
		if err != nil && c.drv.Violation(err) == ForeignKey {
			return nil, &contract.RuleError{Mailbox: id, Err: fmt.Errorf("%w (refused by the database)", contract.ErrMailboxInUse)}
		}
		return func(s *snapshot) *snapshot { return s.withoutMailbox(id) }, err
	})
}

// PutContract adds or replaces a contract after contract.CheckSave.
func (c *Catalog) PutContract(ctx context.Context, ct *contract.Contract) error {
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
			if c.drv.Violation(err) == ForeignKey {
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
				switch c.drv.Violation(err) {
				case Unique:
					return nil, &contract.RuleError{Contract: ct.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w (refused by the database)", contract.ErrInboundTaken)}
				case ForeignKey:
					return nil, &contract.RuleError{Contract: ct.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w (refused by the database)", contract.ErrWrongKind)}
				}
				return nil, err
			}
		}
		return func(s *snapshot) *snapshot { return s.withContract(cp) }, nil
	})
}

// DeleteContract removes a contract; its inbound mailboxes become unowned.
func (c *Catalog) DeleteContract(ctx context.Context, id contract.ID) error {
	return c.write(ctx, func(q Q, v *queryView) (patch, error) {
		n, err := q.Exec(ctx, "DELETE FROM correio_contracts WHERE id = ?", string(id))
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: contract %q", store.ErrNotFound, id)
		}
		return func(s *snapshot) *snapshot { return s.withoutContract(id) }, nil
	})
}

// SetSystemMailbox names the system outbound mailbox; it must be registered
// and outbound. An empty id clears the setting.
func (c *Catalog) SetSystemMailbox(ctx context.Context, id mailbox.ID) error {
	set := func(s *snapshot) *snapshot { return s.withSystem(id) }
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
		if err != nil && c.drv.Violation(err) == ForeignKey {
			return nil, &contract.RuleError{Mailbox: id, Path: "system_mailbox", Err: fmt.Errorf("%w (refused by the database)", contract.ErrWrongKind)}
		}
		return set, err
	})
}

// SaveRefreshToken seals and saves a mailbox's OAuth2 refresh token (the
// first one, or a rotated one reported by transport.OAuth2Tokens.OnRotate).
// It does not change the catalog version: running token sources already
// hold the new token; snapshots built later pass it to TokenSources. New
// code keeps grants in Store.Tokens (store.Tokens), which holds the access
// token, expiry and provider too, and is what connect.TokenSource uses.
func (c *Catalog) SaveRefreshToken(ctx context.Context, id mailbox.ID, tok mailbox.Secret) error {
	var sealed []byte
	if !tok.IsZero() {
		if c.codec == nil {
			return secrets.ErrNoCodec
		}
		var err error
		if sealed, err = c.codec.Seal(ctx, refreshPlace(id), tok); err != nil {
			return err
		}
	}
	return c.drv.Write(ctx, func(q Q) error {
		n, err := q.Exec(ctx, "UPDATE correio_mailboxes SET oauth2_refresh = ? WHERE id = ?", sealed, string(id))
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
		}
		return err
	})
}

// RefreshToken returns the stored refresh token of a mailbox (zero when
// none).
func (c *Catalog) RefreshToken(ctx context.Context, id mailbox.ID) (mailbox.Secret, error) {
	var sealed []byte
	err := c.drv.Read(ctx, func(q Q) error {
		return q.QueryRow(ctx, "SELECT oauth2_refresh FROM correio_mailboxes WHERE id = ?", string(id)).Scan(&sealed)
	})
	if err != nil {
		if c.drv.NoRows(err) {
			return mailbox.Secret{}, fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
		}
		return mailbox.Secret{}, err
	}
	if len(sealed) == 0 {
		return mailbox.Secret{}, nil
	}
	if c.codec == nil {
		return mailbox.Secret{}, secrets.ErrNoCodec
	}
	return c.codec.Open(ctx, refreshPlace(id), sealed)
}

// storedVersion reads the stored catalog version.
func (c *Catalog) storedVersion(ctx context.Context) (int64, error) {
	var v int64
	err := c.drv.Read(ctx, func(q Q) error {
		return q.QueryRow(ctx, "SELECT version FROM correio_catalog_version WHERE singleton = 1").Scan(&v)
	})
	return v, err
}

// Refresh reloads the cached snapshot now if the stored catalog changed
// (the drivers call it when another process wrote: store/sqlite every
// CheckInterval, store/postgres on each notification).
func (c *Catalog) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.snap.Load(); cur != nil {
		v, err := c.storedVersion(ctx)
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

func (c *Catalog) load(ctx context.Context) (*snapshot, error) {
	type mbRow struct {
		r       mailboxRow
		refresh []byte
	}
	var (
		version int64
		rows    []mbRow
		cts     []*contract.Contract
		system  string
	)
	err := c.drv.Read(ctx, func(q Q) error {
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
		if err != nil && !c.drv.NoRows(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load catalog: %w", err)
	}
	mbs := make([]*mailbox.Mailbox, 0, len(rows))
	for _, r := range rows {
		m, err := decodeMailbox(ctx, c.codec, c.tokens, r.r, r.refresh)
		if err != nil {
			return nil, err
		}
		mbs = append(mbs, m)
	}
	return newSnapshot(version, mbs, cts, mailbox.ID(system)), nil
}

// resealer is implemented by codecs that can tell a value sealed with a
// retired key (secrets.Keyring).
type resealer interface{ NeedsReseal(sealed []byte) bool }

// Reseal rewrites every secret sealed with a key other than the codec's
// current one, so the old key can be dropped after a rotation. It returns
// how many values it rewrote. Values the codec cannot open fail the whole
// pass (nothing is rewritten).
func (c *Catalog) Reseal(ctx context.Context) (int, error) {
	rs, ok := c.codec.(resealer)
	if !ok {
		return 0, nil
	}
	n := 0
	err := c.drv.Write(ctx, func(q Q) error {
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
			s, err := c.codec.Open(ctx, at, b)
			if err != nil {
				return nil, fmt.Errorf("store: reseal mailbox %q %s: %w", at.Mailbox, at.Field, err)
			}
			n++
			return c.codec.Seal(ctx, at, s)
		}
		for _, it := range items {
			id := mailbox.ID(it.id)
			sec, err := redo(passwordPlace(id), it.secret)
			if err != nil {
				return err
			}
			fr, err := redo(refreshPlace(id), it.fresh)
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

// Version is the catalog version of the cached snapshot; it increases on
// every change.
func (c *Catalog) Version() uint64 { return uint64(c.current().Version) }

// Mailbox implements routing.Catalog.
func (c *Catalog) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) { return c.current().Mailbox(id) }

// Contract implements routing.Catalog.
func (c *Catalog) Contract(id contract.ID) (*contract.Contract, bool) {
	return c.current().Contract(id)
}

// SystemMailbox implements routing.Catalog.
func (c *Catalog) SystemMailbox() (mailbox.ID, bool) { return c.current().SystemMailbox() }

// InboundOwner implements routing.Catalog.
func (c *Catalog) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	return c.current().InboundOwner(id)
}

// ContractsUsing returns the contracts using mailbox id, sorted.
func (c *Catalog) ContractsUsing(id mailbox.ID) []contract.ID {
	return c.current().ContractsUsing(id)
}

// Mailboxes returns every mailbox, sorted by ID.
func (c *Catalog) Mailboxes() []*mailbox.Mailbox { return c.current().Mailboxes() }

// Contracts returns every contract, sorted by ID.
func (c *Catalog) Contracts() []*contract.Contract { return c.current().Contracts() }
