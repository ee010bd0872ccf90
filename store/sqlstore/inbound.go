package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// fence checks a fencing token inside q's transaction: first against the
// database's own leases when the driver has them (LeaseChecker), then, on
// every database, that it is not lower than the highest one seen for the
// mailbox.
func (d *db) fence(ctx context.Context, q Q, mb mailbox.ID, token int64) error {
	if d.lease != nil {
		if err := d.lease.CheckLease(ctx, q, mb, token); err != nil {
			return err
		}
	}
	n, err := q.Exec(ctx, `INSERT INTO correio_inbound_fences (mailbox_id, token) VALUES (?, ?)
		ON CONFLICT (mailbox_id) DO UPDATE SET token = excluded.token
		WHERE correio_inbound_fences.token <= excluded.token`, string(mb), token)
	if err != nil {
		return fmt.Errorf("check fence: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: mailbox %q token %d", store.ErrFenced, mb, token)
	}
	return nil
}

// Checkpoint implements store.Inbound.
func (d *Inbound) Checkpoint(ctx context.Context, mb mailbox.ID, folder string) (cp store.Checkpoint, ok bool, err error) {
	err = d.read(ctx, func(q Q) error {
		var v, u, since int64
		var cur string
		err := q.QueryRow(ctx, "SELECT transport_cursor, uid_validity, last_uid, since_ns FROM correio_inbound_checkpoints WHERE mailbox_id = ? AND folder = ?", string(mb), folder).Scan(&cur, &v, &u, &since)
		if d.noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		cp, ok = store.Checkpoint{Cursor: store.Cursor(cur), UIDValidity: uint32(v), LastUID: uint32(u), Since: fromNS(since)}, true
		return nil
	})
	return cp, ok, err
}

// setCheckpoint writes a checkpoint; with monotonic, a LastUID lower than
// the stored one under the same UIDVALIDITY is ignored (the stored cursor
// stays with its UID). A checkpoint without IMAP numbers (another
// transport's cursor) has UIDVALIDITY 0 and UID 0 and so always replaces
// the stored one.
func setCheckpoint(ctx context.Context, q Q, mb mailbox.ID, folder string, cp store.Checkpoint, at time.Time, monotonic bool) error {
	last, cur := "excluded.last_uid", "excluded.transport_cursor"
	if monotonic {
		const older = `CASE WHEN correio_inbound_checkpoints.uid_validity = excluded.uid_validity
			AND correio_inbound_checkpoints.last_uid > excluded.last_uid THEN `
		last = older + "correio_inbound_checkpoints.last_uid ELSE excluded.last_uid END"
		cur = older + "correio_inbound_checkpoints.transport_cursor ELSE excluded.transport_cursor END"
	}
	_, err := q.Exec(ctx, `INSERT INTO correio_inbound_checkpoints (mailbox_id, folder, transport_cursor, uid_validity, last_uid, since_ns, updated_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mailbox_id, folder) DO UPDATE SET transport_cursor = `+cur+`, uid_validity = excluded.uid_validity,
		last_uid = `+last+`, since_ns = excluded.since_ns, updated_ns = excluded.updated_ns`,
		string(mb), folder, string(cp.Cursor), int64(cp.UIDValidity), int64(cp.LastUID), ns(cp.Since), ns(at))
	return err
}

// SetCheckpoint implements store.Inbound.
func (d *Inbound) SetCheckpoint(ctx context.Context, mb mailbox.ID, folder string, cp store.Checkpoint, fence int64) error {
	return d.write(ctx, func(q Q) error {
		if err := d.fence(ctx, q, mb, fence); err != nil {
			return err
		}
		return setCheckpoint(ctx, q, mb, folder, cp, time.Now(), false)
	})
}

// Done implements store.Inbound. It is one statement, run outside an
// explicit transaction when the driver can (AutoReader).
func (d *Inbound) Done(ctx context.Context, mb mailbox.ID, key string) (bool, error) {
	var done bool
	err := d.readOne(ctx, func(q Q) error {
		var one int
		err := q.QueryRow(ctx, "SELECT 1 FROM correio_inbound_handled WHERE mailbox_id = ? AND key = ?", string(mb), key).Scan(&one)
		if d.noRows(err) {
			return nil
		}
		done = err == nil
		return err
	})
	return done, err
}

// DoneKeys implements store.DoneBatcher: one statement for up to
// batchRows keys, run outside an explicit transaction when the driver can.
func (d *Inbound) DoneKeys(ctx context.Context, mb mailbox.ID, keys []string) ([]bool, error) {
	done := make([]bool, len(keys))
	for start := 0; start < len(keys); start += batchRows {
		chunk := keys[start:min(len(keys), start+batchRows)]
		var b strings.Builder
		args := make([]any, 0, len(chunk)+1)
		args = append(args, string(mb))
		b.WriteString("SELECT key FROM correio_inbound_handled WHERE mailbox_id = ? AND key IN (")
		for i, k := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, k)
		}
		b.WriteString(")")
		found := map[string]bool{}
		err := d.readOne(ctx, func(q Q) error {
			clear(found)
			rows, err := q.Query(ctx, b.String(), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				found[k] = true
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
		for i, k := range chunk {
			done[start+i] = found[k]
		}
	}
	return done, nil
}

// insertKey records a handled key with the contract the message was handed
// under (r.Contract, else the contract owning the mailbox now); inserted is
// false when the key was already there.
func insertKey(ctx context.Context, q Q, r store.InboundRecord) (inserted bool, err error) {
	n, err := q.Exec(ctx, `INSERT INTO correio_inbound_handled (mailbox_id, key, folder, uid_validity, uid, outcome, contract_id, at_ns)
		VALUES (?, ?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), (SELECT contract_id FROM correio_contract_inbound WHERE mailbox_id = ?)), ?)
		ON CONFLICT (mailbox_id, key) DO NOTHING`,
		string(r.Mailbox), r.Key, r.Folder, int64(r.Checkpoint.UIDValidity), int64(r.Checkpoint.LastUID), int(r.Outcome), string(r.Contract), string(r.Mailbox), ns(r.At))
	return n > 0, err
}

// commit records r's key and moves its checkpoint inside q's transaction,
// after checking its fencing token.
func (d *Inbound) commit(ctx context.Context, q Q, r store.InboundRecord) error {
	if r.Key == "" {
		return fmt.Errorf("commit: empty key")
	}
	if err := d.fence(ctx, q, r.Mailbox, r.Fence); err != nil {
		return err
	}
	if _, err := insertKey(ctx, q, r); err != nil {
		return err
	}
	if err := insertReceipt(ctx, q, r); err != nil {
		return err
	}
	return setCheckpoint(ctx, q, r.Mailbox, r.Folder, r.Checkpoint, r.At, true)
}

// insertReceipt keeps r's receipt (store.Receipt), when it has one, in q's
// transaction.
func insertReceipt(ctx context.Context, q Q, r store.InboundRecord) error {
	rc := r.Receipt
	if rc == nil {
		return nil
	}
	_, err := q.Exec(ctx, `INSERT INTO correio_inbound_receipts (mailbox_id, key, folder, item_id, uid_validity, action, target)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mailbox_id, key) DO UPDATE SET folder = excluded.folder, item_id = excluded.item_id,
		uid_validity = excluded.uid_validity, action = excluded.action, target = excluded.target`,
		string(r.Mailbox), r.Key, r.Folder, rc.ItemID, int64(rc.UIDValidity), string(rc.Action), rc.Folder)
	if err != nil {
		return fmt.Errorf("keep receipt: %w", err)
	}
	return nil
}

// Receipts implements store.Inbound.
func (d *Inbound) Receipts(ctx context.Context, mb mailbox.ID, folder string) ([]store.Receipt, error) {
	var out []store.Receipt
	err := d.read(ctx, func(q Q) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT key, item_id, uid_validity, action, target FROM correio_inbound_receipts
			WHERE mailbox_id = ? AND folder = ? ORDER BY seq`, string(mb), folder)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.Receipt
			var v int64
			var action string
			if err := rows.Scan(&r.Key, &r.ItemID, &v, &action, &r.Folder); err != nil {
				return err
			}
			r.UIDValidity, r.Action = uint32(v), mailbox.PostAction(action)
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// ClearReceipts implements store.Inbound.
func (d *Inbound) ClearReceipts(ctx context.Context, mb mailbox.ID, keys []string) error {
	const chunk = 500
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		args := make([]any, 0, n+1)
		args = append(args, string(mb))
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		keys = keys[n:]
		err := d.write(ctx, func(q Q) error {
			_, err := q.Exec(ctx, "DELETE FROM correio_inbound_receipts WHERE mailbox_id = ? AND key IN (?"+strings.Repeat(", ?", n-1)+")", args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("clear receipts: %w", err)
		}
	}
	return nil
}

// HandOff records r's key inside q, a transaction a driver began to hand a
// message off inside the host's own transaction (store/postgres
// HandleInTx), then runs fn and moves the checkpoint (never back). When the
// key is already there the message was handled by an earlier transaction:
// fn is not run and handled is false. A concurrent transaction inserting
// the same key makes this one wait for it, so fn runs once even across
// replicas.
func (d *Inbound) HandOff(ctx context.Context, q Q, r store.InboundRecord, fn func() error) (handled bool, err error) {
	inserted, err := insertKey(ctx, q, r)
	if err != nil || !inserted {
		return false, err
	}
	if err := insertReceipt(ctx, q, r); err != nil {
		return false, err
	}
	if err := fn(); err != nil {
		return false, err
	}
	return true, setCheckpoint(ctx, q, r.Mailbox, r.Folder, r.Checkpoint, r.At, true)
}

// Commit implements store.Inbound.
func (d *Inbound) Commit(ctx context.Context, r store.InboundRecord) error {
	return d.write(ctx, func(q Q) error { return d.commit(ctx, q, r) })
}

// CommitBatch implements store.BatchCommitter: the records' keys and
// receipts and each folder's last checkpoint in one transaction, with one
// fencing check per mailbox and token, and multi-row statements (two round
// trips for the keys and receipts of up to batchRows records).
func (d *Inbound) CommitBatch(ctx context.Context, rs []store.InboundRecord) error {
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		if r.Key == "" {
			return fmt.Errorf("commit: empty key")
		}
	}
	return d.write(ctx, func(q Q) error {
		type fenced struct {
			mb    mailbox.ID
			token int64
		}
		checked := map[fenced]bool{}
		type folderKey struct {
			mb     mailbox.ID
			folder string
		}
		last := map[folderKey]int{}
		var order []folderKey
		for i, r := range rs {
			if f := (fenced{r.Mailbox, r.Fence}); !checked[f] {
				if err := d.fence(ctx, q, r.Mailbox, r.Fence); err != nil {
					return err
				}
				checked[f] = true
			}
			k := folderKey{r.Mailbox, r.Folder}
			if _, ok := last[k]; !ok {
				order = append(order, k)
			}
			last[k] = i
		}
		owners, err := d.contractsOf(ctx, q, rs)
		if err != nil {
			return err
		}
		for start := 0; start < len(rs); start += batchRows {
			chunk := rs[start:min(len(rs), start+batchRows)]
			if err := insertKeys(ctx, q, chunk, owners); err != nil {
				return err
			}
			if err := insertReceipts(ctx, q, chunk); err != nil {
				return err
			}
		}
		for _, k := range order {
			r := rs[last[k]]
			if err := setCheckpoint(ctx, q, r.Mailbox, r.Folder, r.Checkpoint, r.At, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// batchRows caps the rows of one multi-row statement (9 parameters a row
// stays far below SQLite's and Postgres's parameter limits).
const batchRows = 200

// contractsOf returns the contract owning each mailbox of rs that has a
// record without one (nil when no contract owns it), one query per such
// mailbox in the caller's transaction: what insertKey's per-row subquery
// reads, looked up once per batch instead of once per row (the subquery
// cost about a third of a batch insert's CPU in SQLite).
func (d *Inbound) contractsOf(ctx context.Context, q Q, rs []store.InboundRecord) (map[mailbox.ID]any, error) {
	owners := map[mailbox.ID]any{}
	for _, r := range rs {
		if r.Contract != "" {
			continue
		}
		if _, ok := owners[r.Mailbox]; ok {
			continue
		}
		var owner string
		err := q.QueryRow(ctx, "SELECT contract_id FROM correio_contract_inbound WHERE mailbox_id = ?", string(r.Mailbox)).Scan(&owner)
		switch {
		case d.noRows(err):
			owners[r.Mailbox] = nil
		case err != nil:
			return nil, fmt.Errorf("commit: contract of %s: %w", r.Mailbox, err)
		default:
			owners[r.Mailbox] = owner
		}
	}
	return owners, nil
}

// insertKeys is insertKey for several records in one statement; a key
// already there (or twice in rs) keeps its first record. owners holds the
// contract (or nil) of each mailbox of a record without one (contractsOf).
func insertKeys(ctx context.Context, q Q, rs []store.InboundRecord, owners map[mailbox.ID]any) error {
	type mk struct{ mb, key string }
	seen := make(map[mk]bool, len(rs))
	var b strings.Builder
	args := make([]any, 0, 8*len(rs))
	b.WriteString(`INSERT INTO correio_inbound_handled (mailbox_id, key, folder, uid_validity, uid, outcome, contract_id, at_ns) VALUES `)
	n := 0
	for _, r := range rs {
		if seen[mk{string(r.Mailbox), r.Key}] {
			continue
		}
		seen[mk{string(r.Mailbox), r.Key}] = true
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		var contract any = string(r.Contract)
		if r.Contract == "" {
			contract = owners[r.Mailbox]
		}
		args = append(args, string(r.Mailbox), r.Key, r.Folder, int64(r.Checkpoint.UIDValidity), int64(r.Checkpoint.LastUID), int(r.Outcome),
			contract, ns(r.At))
	}
	b.WriteString(" ON CONFLICT (mailbox_id, key) DO NOTHING")
	_, err := q.Exec(ctx, b.String(), args...)
	return err
}

// insertReceipts is insertReceipt for the records of rs that have one, in
// one statement; of a key twice in rs the last receipt is kept, as
// insertReceipt one by one would.
func insertReceipts(ctx context.Context, q Q, rs []store.InboundRecord) error {
	type mk struct{ mb, key string }
	lastOf := map[mk]int{}
	for i, r := range rs {
		if r.Receipt != nil {
			lastOf[mk{string(r.Mailbox), r.Key}] = i
		}
	}
	if len(lastOf) == 0 {
		return nil
	}
	var b strings.Builder
	args := make([]any, 0, 7*len(lastOf))
	b.WriteString(`INSERT INTO correio_inbound_receipts (mailbox_id, key, folder, item_id, uid_validity, action, target) VALUES `)
	n := 0
	for i, r := range rs {
		if r.Receipt == nil || lastOf[mk{string(r.Mailbox), r.Key}] != i {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		rc := r.Receipt
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, string(r.Mailbox), r.Key, r.Folder, rc.ItemID, int64(rc.UIDValidity), string(rc.Action), rc.Folder)
	}
	b.WriteString(` ON CONFLICT (mailbox_id, key) DO UPDATE SET folder = excluded.folder, item_id = excluded.item_id,
		uid_validity = excluded.uid_validity, action = excluded.action, target = excluded.target`)
	if _, err := q.Exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("keep receipts: %w", err)
	}
	return nil
}

// Quarantine implements store.Inbound.
func (d *Inbound) Quarantine(ctx context.Context, it store.QuarantineItem, raw io.Reader) error {
	var b []byte
	if raw != nil {
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, raw); err != nil {
			return fmt.Errorf("quarantine: reading the message: %w", err)
		}
		b = buf.Bytes()
		if b == nil {
			b = []byte{}
		}
	}
	return d.write(ctx, func(q Q) error {
		if err := d.fence(ctx, q, it.Mailbox, it.Fence); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `INSERT INTO correio_inbound_quarantine
			(mailbox_id, folder, key, uid_validity, uid, size, reason, contract_id, at_ns, raw)
			VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT contract_id FROM correio_contract_inbound WHERE mailbox_id = ?), ?, ?)`,
			string(it.Mailbox), it.Folder, it.Key, int64(it.UIDValidity), int64(it.UID), it.Size, it.Reason, string(it.Mailbox), ns(it.At), b)
		return err
	})
}

// Received is a handled (or quarantined) inbound message's record with the
// contract it is kept under: the contract it was handed under (a reply to
// another contract's thread goes with that contract), else the contract that
// owned its mailbox when it was committed.
type Received struct {
	store.InboundRecord
	Contract contract.ID
}

// ReceivedFilter selects received records; zero fields match all.
type ReceivedFilter struct {
	Mailbox  mailbox.ID
	Contract contract.ID
	// Since keeps records committed at or after it.
	Since time.Time
	// Limit caps the result (0: no cap).
	Limit int
}

func limit(n int) int64 {
	if n <= 0 {
		return 1<<62 - 1
	}
	return int64(n)
}

// Received lists the records of received messages (handled and
// quarantined), oldest first: by mailbox, by contract, since a time.
func (d *Inbound) Received(ctx context.Context, f ReceivedFilter) ([]Received, error) {
	var out []Received
	err := d.read(ctx, func(q Q) error {
		rows, err := q.Query(ctx, `SELECT mailbox_id, key, folder, uid_validity, uid, outcome, COALESCE(contract_id, ''), at_ns
			FROM correio_inbound_handled
			WHERE (? = '' OR mailbox_id = ?) AND (? = '' OR contract_id = ?) AND at_ns >= ?
			ORDER BY at_ns, mailbox_id, key LIMIT ?`,
			string(f.Mailbox), string(f.Mailbox), string(f.Contract), string(f.Contract), ns(f.Since), limit(f.Limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Received
			var mb, ct string
			var v, u, at int64
			var oc int
			if err := rows.Scan(&mb, &r.Key, &r.Folder, &v, &u, &oc, &ct, &at); err != nil {
				return err
			}
			r.Mailbox, r.Contract, r.Outcome, r.At = mailbox.ID(mb), contract.ID(ct), store.Outcome(oc), fromNS(at)
			r.Checkpoint = store.Checkpoint{UIDValidity: uint32(v), LastUID: uint32(u)}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// Quarantined is a quarantined message's metadata; its raw bytes are read
// with QuarantinedRaw.
type Quarantined struct {
	// ID identifies the quarantined message in the store.
	ID int64
	store.QuarantineItem
	Contract contract.ID
	// HasRaw is false when the raw message could not be fetched or was
	// pruned.
	HasRaw bool
}

// QuarantineFilter selects quarantined messages; zero fields match all.
type QuarantineFilter struct {
	Mailbox  mailbox.ID
	Contract contract.ID
	Limit    int
}

// Quarantined lists quarantined messages, oldest first.
func (d *Inbound) Quarantined(ctx context.Context, f QuarantineFilter) ([]Quarantined, error) {
	var out []Quarantined
	err := d.read(ctx, func(q Q) error {
		rows, err := q.Query(ctx, `SELECT id, mailbox_id, folder, key, uid_validity, uid, size, reason, COALESCE(contract_id, ''), at_ns, raw IS NOT NULL
			FROM correio_inbound_quarantine
			WHERE (? = '' OR mailbox_id = ?) AND (? = '' OR contract_id = ?)
			ORDER BY id LIMIT ?`,
			string(f.Mailbox), string(f.Mailbox), string(f.Contract), string(f.Contract), limit(f.Limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Quarantined
			var mb, ct string
			var v, u, at int64
			if err := rows.Scan(&r.ID, &mb, &r.Folder, &r.Key, &v, &u, &r.Size, &r.Reason, &ct, &at, &r.HasRaw); err != nil {
				return err
			}
			r.Mailbox, r.Contract, r.At = mailbox.ID(mb), contract.ID(ct), fromNS(at)
			r.UIDValidity, r.UID = uint32(v), uint32(u)
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// QuarantinedRaw returns the raw message kept for a quarantined message
// (nil when it could not be fetched or was pruned), for the host to
// re-process it.
func (d *Inbound) QuarantinedRaw(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	err := d.read(ctx, func(q Q) error {
		err := q.QueryRow(ctx, "SELECT raw FROM correio_inbound_quarantine WHERE id = ?", id).Scan(&raw)
		if d.noRows(err) {
			return fmt.Errorf("%w: quarantined message %d", store.ErrNotFound, id)
		}
		return err
	})
	return raw, err
}

// DeleteQuarantined removes a quarantined message (once the host has
// re-processed it); an unknown id wraps store.ErrNotFound.
func (d *Inbound) DeleteQuarantined(ctx context.Context, id int64) error {
	return d.write(ctx, func(q Q) error {
		n, err := q.Exec(ctx, "DELETE FROM correio_inbound_quarantine WHERE id = ?", id)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: quarantined message %d", store.ErrNotFound, id)
		}
		return err
	})
}

// Pruned counts what Prune removed.
type Pruned struct {
	// HandledKeys removed (their messages stay covered by the checkpoint).
	HandledKeys int64
	// SentRecords removed: outbox records Sent or Dead (with attachments).
	SentRecords int64
	// QuarantineRaw counts quarantined messages whose raw bytes were
	// dropped (the metadata stays).
	QuarantineRaw int64
}

// Prune applies retention: it removes handled keys committed before
// before (the checkpoint still covers their messages), Sent and Dead
// outbox records last updated before it, and drops the raw bytes of
// messages quarantined before it (their metadata stays).
//
// Keep handled keys longer than messages stay on the server: after a
// UIDVALIDITY change the folder is read again, and only a message's key
// stops a second hand-off (mailboxes with PostDelete or PostMove have
// nothing left to read again).
func (d *Store) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	b := ns(before)
	err := d.write(ctx, func(q Q) error {
		var err error
		if p.HandledKeys, err = q.Exec(ctx, "DELETE FROM correio_inbound_handled WHERE at_ns < ?", b); err != nil {
			return err
		}
		if p.SentRecords, err = q.Exec(ctx, "DELETE FROM correio_outbox WHERE state <> 1 AND updated_ns < ?", b); err != nil {
			return err
		}
		p.QuarantineRaw, err = q.Exec(ctx, "UPDATE correio_inbound_quarantine SET raw = NULL WHERE at_ns < ? AND raw IS NOT NULL", b)
		return err
	})
	return p, err
}

// Erased counts what EraseContract removed.
type Erased struct {
	Received, Quarantined, Outbox int64
}

// EraseContract deletes everything recorded for one contract (LGPD/GDPR):
// its received records, quarantined messages and outbox records in any
// state. The catalog entry itself is removed with Catalog.DeleteContract.
func (d *Store) EraseContract(ctx context.Context, id contract.ID) (Erased, error) {
	var e Erased
	if id == "" {
		return e, fmt.Errorf("erase: empty contract ID")
	}
	err := d.write(ctx, func(q Q) error {
		// Receipts hold the keys (Message-IDs) of the messages erased.
		if _, err := q.Exec(ctx, `DELETE FROM correio_inbound_receipts WHERE EXISTS (SELECT 1 FROM correio_inbound_handled h
			WHERE h.contract_id = ? AND h.mailbox_id = correio_inbound_receipts.mailbox_id AND h.key = correio_inbound_receipts.key)`, string(id)); err != nil {
			return err
		}
		var err error
		if e.Received, err = q.Exec(ctx, "DELETE FROM correio_inbound_handled WHERE contract_id = ?", string(id)); err != nil {
			return err
		}
		if e.Quarantined, err = q.Exec(ctx, "DELETE FROM correio_inbound_quarantine WHERE contract_id = ?", string(id)); err != nil {
			return err
		}
		e.Outbox, err = q.Exec(ctx, "DELETE FROM correio_outbox WHERE contract_id = ?", string(id))
		return err
	})
	return e, err
}

var _ store.QuarantineAdmin = (*Inbound)(nil)
var _ store.DoneBatcher = (*Inbound)(nil)

// QuarantinedItem implements store.QuarantineAdmin.
func (d *Inbound) QuarantinedItem(ctx context.Context, id int64) (store.QuarantineItem, []byte, error) {
	var it store.QuarantineItem
	var raw []byte
	err := d.read(ctx, func(q Q) error {
		var mb string
		var v, u, at int64
		err := q.QueryRow(ctx, `SELECT mailbox_id, folder, key, uid_validity, uid, size, reason, at_ns, raw
			FROM correio_inbound_quarantine WHERE id = ?`, id).Scan(&mb, &it.Folder, &it.Key, &v, &u, &it.Size, &it.Reason, &at, &raw)
		if d.noRows(err) {
			return fmt.Errorf("%w: quarantined message %d", store.ErrNotFound, id)
		}
		it.Mailbox, it.UIDValidity, it.UID, it.At = mailbox.ID(mb), uint32(v), uint32(u), fromNS(at)
		return err
	})
	return it, raw, err
}
