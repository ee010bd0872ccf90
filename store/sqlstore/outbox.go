package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
)

// msgJSON is store.Message without its attachments (stored apart). Text
// and HTML are in correio_outbox_bodies; rows written before that table
// had them here, and a record without a body row still reads them.
type msgJSON struct {
	Mailbox           mailbox.ID      `json:"mailbox"`
	To                []store.Address `json:"to,omitempty"`
	Cc                []store.Address `json:"cc,omitempty"`
	Bcc               []store.Address `json:"bcc,omitempty"`
	Subject           string          `json:"subject"`
	Text              string          `json:"text,omitempty"`
	HTML              string          `json:"html,omitempty"`
	InReplyTo         string          `json:"in_reply_to,omitempty"`
	References        []string        `json:"references,omitempty"`
	Thread            string          `json:"thread,omitempty"`
	Contract          contract.ID     `json:"contract,omitempty"`
	Rule              routing.Rule    `json:"rule,omitempty"`
	Reason            string          `json:"reason,omitempty"`
	IgnoreSuppression bool            `json:"ignore_suppression,omitempty"`
}

// encodeMsg encodes m without its body (Text and HTML, kept in
// correio_outbox_bodies) and attachments.
func encodeMsg(m *store.Message) (string, error) {
	b, err := json.Marshal(msgJSON{m.Mailbox, m.To, m.Cc, m.Bcc, m.Subject, "", "", m.InReplyTo, m.References, m.Thread, m.Contract, m.Rule, m.Reason, m.IgnoreSuppression})
	return string(b), err
}

func encodeRcpts(rs []store.RecipientStatus) (string, error) {
	if rs == nil {
		rs = []store.RecipientStatus{}
	}
	b, err := json.Marshal(rs)
	return string(b), err
}

const recCols = `id, message_id, mailbox_id, state, attempts, enqueued_ns, next_ns, last_error, reason, rule,
	decision_reason, contract_id, CAST(message AS TEXT), CAST(recipients AS TEXT), claim_token, claimed_until_ns`

// selectRecs reads records with their bodies: recCols, then the body's
// text and html (empty for a record without a body row).
const selectRecs = "SELECT " + recCols + `, coalesce(b.text, ''), coalesce(b.html, '')
	FROM correio_outbox LEFT JOIN correio_outbox_bodies b ON b.record_id = correio_outbox.id`

// scanRec reads recCols, and the body's text and html after them when
// withBody.
func scanRec(s Scanner, withBody bool) (*store.OutboxRecord, error) {
	var r store.OutboxRecord
	var mb, ct, msg, rc, text, html string
	var st, rule int
	var enq, next, until int64
	dest := []any{&r.ID, &r.MessageID, &mb, &st, &r.Attempts, &enq, &next, &r.LastError, &r.Reason, &rule,
		&r.DecisionReason, &ct, &msg, &rc, &r.ClaimToken, &until}
	if withBody {
		dest = append(dest, &text, &html)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	r.Mailbox, r.Contract, r.State, r.Rule = mailbox.ID(mb), contract.ID(ct), store.OutboxState(st), routing.Rule(rule)
	r.EnqueuedAt, r.NextAttempt, r.ClaimedUntil = fromNS(enq), fromNS(next), fromNS(until)
	var m msgJSON
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return nil, fmt.Errorf("outbox record %q: message: %w", r.ID, err)
	}
	r.Message = store.Message{Mailbox: m.Mailbox, To: m.To, Cc: m.Cc, Bcc: m.Bcc, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		InReplyTo: m.InReplyTo, References: m.References, Thread: m.Thread, Contract: m.Contract, Rule: m.Rule, Reason: m.Reason, IgnoreSuppression: m.IgnoreSuppression}
	if text != "" || html != "" {
		r.Message.Text, r.Message.HTML = text, html
	}
	if err := json.Unmarshal([]byte(rc), &r.Recipients); err != nil {
		return nil, fmt.Errorf("outbox record %q: recipients: %w", r.ID, err)
	}
	return &r, nil
}

// Put implements store.Outbox.
func (d *Outbox) Put(ctx context.Context, r *store.OutboxRecord) error {
	if r.ID == "" {
		return fmt.Errorf("outbox record without ID")
	}
	// Read the attachments before the transaction: a slow reader must not
	// hold the writer.
	atts := make([][]byte, len(r.Message.Attachments))
	for i, a := range r.Message.Attachments {
		if err := ctx.Err(); err != nil {
			return err
		}
		if a.Open == nil {
			return fmt.Errorf("attachment %q has no Open", a.Name)
		}
		rc, err := a.Open()
		if err != nil {
			return fmt.Errorf("attachment %q: %w", a.Name, err)
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, rc)
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("attachment %q: %w", a.Name, err)
		}
		atts[i] = buf.Bytes()
		if atts[i] == nil {
			atts[i] = []byte{}
		}
	}
	if d.hostTx != nil {
		if q := d.hostTx.HostTx(ctx); q != nil {
			return d.put(ctx, q, r, atts)
		}
	}
	// The record and its body (and attachments) commit together.
	return d.autoTx(ctx, func(q Q) error { return d.put(ctx, q, r, atts) })
}

// put inserts r inside q's transaction; atts are the attachments' bytes.
func (d *Outbox) put(ctx context.Context, q Q, r *store.OutboxRecord, atts [][]byte) error {
	msg, err := encodeMsg(&r.Message)
	if err != nil {
		return err
	}
	rc, err := encodeRcpts(r.Recipients)
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	insert := `INSERT INTO correio_outbox (id, message_id, mailbox_id, state, attempts, enqueued_ns, next_ns,
		last_error, reason, rule, decision_reason, contract_id, thread, message, recipients, updated_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{r.ID, r.MessageID, string(r.Mailbox), int(r.State), r.Attempts, ns(r.EnqueuedAt), ns(r.NextAttempt),
		r.LastError, r.Reason, int(r.Rule), r.DecisionReason, string(r.Contract), r.Message.Thread, msg, rc, now}
	if d.enqueue != nil && r.State == store.Queued {
		insert, args = d.enqueue.NotifyEnqueue(insert, args)
	}
	if _, err := q.Exec(ctx, insert, args...); err != nil {
		if d.drv.Violation(err) == Unique {
			return fmt.Errorf("outbox record %q exists: %w", r.ID, err)
		}
		return err
	}
	if _, err := q.Exec(ctx, "INSERT INTO correio_outbox_bodies (record_id, text, html) VALUES (?, ?, ?)",
		r.ID, r.Message.Text, r.Message.HTML); err != nil {
		return err
	}
	for i, a := range r.Message.Attachments {
		ct := a.ContentType
		if _, err := q.Exec(ctx, "INSERT INTO correio_outbox_attachments (record_id, idx, name, content_type, data) VALUES (?, ?, ?, ?, ?)",
			r.ID, i, a.Name, ct, atts[i]); err != nil {
			return err
		}
	}
	return nil
}

// attach loads the attachments' names of recs and gives each an Open that
// reads its bytes from the store.
func (d *Outbox) attach(ctx context.Context, q Q, recs []*store.OutboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	byID, in, args := byRecordID(recs)
	rows, err := q.Query(ctx, "SELECT record_id, idx, name, content_type FROM correio_outbox_attachments WHERE record_id IN "+in+" ORDER BY record_id, idx", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name, ct string
		var idx int
		if err := rows.Scan(&id, &idx, &name, &ct); err != nil {
			return err
		}
		r := byID[id]
		r.Message.Attachments = append(r.Message.Attachments, store.Attachment{Name: name, ContentType: ct, Open: d.opener(id, idx)})
	}
	return rows.Err()
}

func (d *Outbox) opener(id string, idx int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var data []byte
		err := d.read(ctx, func(q Q) error {
			return q.QueryRow(ctx, "SELECT data FROM correio_outbox_attachments WHERE record_id = ? AND idx = ?", id, idx).Scan(&data)
		})
		if err != nil {
			return nil, fmt.Errorf("outbox attachment %d of %q: %w", idx, id, err)
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

// queryRecs runs sql, which returns recCols and, when withBody, the
// body's text and html after them (selectRecs); without, the bodies are
// read by a query of their own (a claim's UPDATE ... RETURNING cannot
// join). Then the attachments.
func (d *Outbox) queryRecs(ctx context.Context, q Q, withBody bool, sql string, args ...any) ([]*store.OutboxRecord, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var out []*store.OutboxRecord
	for rows.Next() {
		r, err := scanRec(rows, withBody)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !withBody {
		if err := d.bodies(ctx, q, out); err != nil {
			return nil, err
		}
	}
	return out, d.attach(ctx, q, out)
}

// byRecordID indexes recs (not empty) by ID and returns the "(?, ?, ...)"
// list and the arguments of a WHERE record_id IN over them.
func byRecordID(recs []*store.OutboxRecord) (map[string]*store.OutboxRecord, string, []any) {
	byID := make(map[string]*store.OutboxRecord, len(recs))
	args := make([]any, len(recs))
	for i, r := range recs {
		byID[r.ID] = r
		args[i] = r.ID
	}
	return byID, "(?" + strings.Repeat(", ?", len(recs)-1) + ")", args
}

// bodies reads the text and html of recs from correio_outbox_bodies.
func (d *Outbox) bodies(ctx context.Context, q Q, recs []*store.OutboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	byID, in, args := byRecordID(recs)
	rows, err := q.Query(ctx, "SELECT record_id, text, html FROM correio_outbox_bodies WHERE record_id IN "+in, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, text, html string
		if err := rows.Scan(&id, &text, &html); err != nil {
			return err
		}
		if r := byID[id]; r != nil && (text != "" || html != "") {
			r.Message.Text, r.Message.HTML = text, html
		}
	}
	return rows.Err()
}

// Claim implements store.Outbox. With a ClaimLocker driver the due rows
// are locked with its clause (FOR UPDATE SKIP LOCKED on Postgres), so
// concurrent claimers (other replicas) skip each other's rows instead of
// waiting or claiming them twice; without one the database has one writer
// (SQLite).
func (d *Outbox) Claim(ctx context.Context, c store.Claim) ([]*store.OutboxRecord, error) {
	if c.Token == "" {
		return nil, fmt.Errorf("claim without token")
	}
	now := ns(c.Now)
	var out []*store.OutboxRecord
	// One statement and the reads of the claimed records' bodies and
	// attachments: on SQLite a group commit shared with the Puts and
	// Updates waiting meanwhile.
	err := d.autoTx(ctx, func(q Q) error {
		var err error
		out, err = d.queryRecs(ctx, q, false, `UPDATE correio_outbox SET claim_token = ?, claimed_until_ns = ?
			WHERE id IN (SELECT id FROM correio_outbox
				WHERE state = 1 AND mailbox_id = ? AND next_ns <= ? AND (claim_token = '' OR claimed_until_ns <= ?)
				ORDER BY next_ns, enqueued_ns, id LIMIT ?`+d.claimLock+`)
			RETURNING `+recCols,
			c.Token, ns(c.Now.Add(c.Lease)), string(c.Mailbox), now, now, limit(c.Max))
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.OutboxRecord) int {
		if d := a.NextAttempt.Compare(b.NextAttempt); d != 0 {
			return d
		}
		if d := a.EnqueuedAt.Compare(b.EnqueuedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// held explains why a claim-checked write changed no row.
func (d *Outbox) held(ctx context.Context, q Q, id string) error {
	var one int
	err := q.QueryRow(ctx, "SELECT 1 FROM correio_outbox WHERE id = ?", id).Scan(&one)
	if d.noRows(err) {
		return fmt.Errorf("%w: %q", store.ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %q", store.ErrClaimLost, id)
}

// Update implements store.Outbox. The body (and attachments) stay the
// ones Put stored. The usual update (sent, or a retry) leaves the indexed
// columns of the record's routing as they are: it runs a statement that
// does not set them (so the database does not rewrite their index
// entries), which matches no row when one changed (a failover); then the
// statement that sets them all runs.
func (d *Outbox) Update(ctx context.Context, r *store.OutboxRecord, token string) error {
	msg, err := encodeMsg(&r.Message)
	if err != nil {
		return err
	}
	rc, err := encodeRcpts(r.Recipients)
	if err != nil {
		return err
	}
	return d.auto(ctx, func(q Q) error {
		now := time.Now().UnixNano()
		n, err := q.Exec(ctx, `UPDATE correio_outbox SET state = ?, attempts = ?, next_ns = ?,
			last_error = ?, reason = ?, rule = ?, decision_reason = ?, message = ?, recipients = ?,
			claim_token = '', claimed_until_ns = 0, updated_ns = ?
			WHERE id = ? AND claim_token = ? AND claim_token <> ''
				AND message_id = ? AND mailbox_id = ? AND contract_id = ? AND thread = ?`,
			int(r.State), r.Attempts, ns(r.NextAttempt), r.LastError, r.Reason, int(r.Rule),
			r.DecisionReason, msg, rc, now, r.ID, token,
			r.MessageID, string(r.Mailbox), string(r.Contract), r.Message.Thread)
		if err != nil || n > 0 {
			return err
		}
		n, err = q.Exec(ctx, `UPDATE correio_outbox SET message_id = ?, mailbox_id = ?, state = ?, attempts = ?, next_ns = ?,
			last_error = ?, reason = ?, rule = ?, decision_reason = ?, contract_id = ?, thread = ?, message = ?, recipients = ?,
			claim_token = '', claimed_until_ns = 0, updated_ns = ?
			WHERE id = ? AND claim_token = ? AND claim_token <> ''`,
			r.MessageID, string(r.Mailbox), int(r.State), r.Attempts, ns(r.NextAttempt), r.LastError, r.Reason, int(r.Rule),
			r.DecisionReason, string(r.Contract), r.Message.Thread, msg, rc, now, r.ID, token)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.held(ctx, q, r.ID)
		}
		return nil
	})
}

// Release implements store.Outbox.
func (d *Outbox) Release(ctx context.Context, id, token string) error {
	return d.auto(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE correio_outbox SET claim_token = '', claimed_until_ns = 0
			WHERE id = ? AND claim_token = ? AND claim_token <> ''`, id, token)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.held(ctx, q, id)
		}
		return nil
	})
}

// ReleaseStale implements store.Outbox.
func (d *Outbox) ReleaseStale(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := d.write(ctx, func(q Q) error {
		var err error
		n, err = q.Exec(ctx, `UPDATE correio_outbox SET claim_token = '', claimed_until_ns = 0
			WHERE state = 1 AND claim_token <> '' AND claimed_until_ns <= ?`, ns(now))
		return err
	})
	return int(n), err
}

// Due implements store.Outbox.
func (d *Outbox) Due(ctx context.Context, now time.Time) ([]store.Due, time.Time, error) {
	var out []store.Due
	var next time.Time
	n := ns(now)
	err := d.read(ctx, func(q Q) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT mailbox_id, count(*) FROM correio_outbox
			WHERE state = 1 AND next_ns <= ? AND (claim_token = '' OR claimed_until_ns <= ?)
			GROUP BY mailbox_id ORDER BY mailbox_id`, n, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var mb string
			var c int64
			if err := rows.Scan(&mb, &c); err != nil {
				return err
			}
			out = append(out, store.Due{Mailbox: mailbox.ID(mb), Count: int(c)})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var nx *int64
		if err := q.QueryRow(ctx, `SELECT min(CASE WHEN claim_token <> '' AND claimed_until_ns > ? THEN claimed_until_ns ELSE next_ns END)
			FROM correio_outbox WHERE state = 1 AND (next_ns > ? OR (claim_token <> '' AND claimed_until_ns > ?))`, n, n, n).Scan(&nx); err != nil {
			return err
		}
		if nx != nil {
			next = fromNS(*nx)
		}
		return nil
	})
	if out == nil {
		out = []store.Due{}
	}
	return out, next, err
}

// Stats implements store.Outbox.
func (d *Outbox) Stats(ctx context.Context, mb mailbox.ID) (store.QueueStats, error) {
	var qs store.QueueStats
	err := d.read(ctx, func(q Q) error {
		var n int64
		var oldest *int64
		if err := q.QueryRow(ctx, "SELECT count(*), min(enqueued_ns) FROM correio_outbox WHERE state = 1 AND mailbox_id = ?", string(mb)).Scan(&n, &oldest); err != nil {
			return err
		}
		qs.Depth = int(n)
		if oldest != nil {
			qs.Oldest = fromNS(*oldest)
		}
		return nil
	})
	return qs, err
}

// Get implements store.Outbox.
func (d *Outbox) Get(ctx context.Context, id string) (*store.OutboxRecord, error) {
	var r *store.OutboxRecord
	err := d.read(ctx, func(q Q) error {
		recs, err := d.queryRecs(ctx, q, true, selectRecs+" WHERE id = ?", id)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("%w: %q", store.ErrNotFound, id)
		}
		r = recs[0]
		return nil
	})
	return r, err
}

// List implements store.Outbox.
func (d *Outbox) List(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxRecord, error) {
	return d.list(ctx, f, "")
}

// ListByContract lists the outbox records sent (or queued, or dead) for
// one contract, oldest first; f narrows by state and mailbox.
func (d *Outbox) ListByContract(ctx context.Context, id contract.ID, f store.OutboxFilter) ([]*store.OutboxRecord, error) {
	if id == "" {
		return nil, fmt.Errorf("list: empty contract ID")
	}
	return d.list(ctx, f, id)
}

func (d *Outbox) list(ctx context.Context, f store.OutboxFilter, ct contract.ID) ([]*store.OutboxRecord, error) {
	var out []*store.OutboxRecord
	err := d.read(ctx, func(q Q) error {
		var err error
		out, err = d.queryRecs(ctx, q, true, selectRecs+`
			WHERE (? = 0 OR state = ?) AND (? = '' OR mailbox_id = ?) AND (? = '' OR contract_id = ?)
			ORDER BY enqueued_ns, id LIMIT ?`,
			int(f.State), int(f.State), string(f.Mailbox), string(f.Mailbox), string(ct), string(ct), limit(f.Limit))
		return err
	})
	return out, err
}

func (d *Outbox) ref(ctx context.Context, sql string, arg string) (threading.Ref, bool, error) {
	var ref threading.Ref
	found := false
	err := d.read(ctx, func(q Q) error {
		var mb, ct string
		err := q.QueryRow(ctx, sql, arg).Scan(&ref.MessageID, &mb, &ct, &ref.Thread)
		if d.noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		ref.Mailbox, ref.Contract, found = mailbox.ID(mb), contract.ID(ct), true
		return nil
	})
	return ref, found, err
}

// SentByMessageID implements threading.SentIndex.
func (d *Outbox) SentByMessageID(ctx context.Context, messageID string) (threading.Ref, bool, error) {
	return d.ref(ctx, `SELECT message_id, mailbox_id, contract_id, thread FROM correio_outbox
		WHERE lower(message_id) = lower(?) ORDER BY enqueued_ns DESC, id DESC LIMIT 1`, strings.Trim(messageID, "<> "))
}

// SentByThread implements threading.SentIndex.
func (d *Outbox) SentByThread(ctx context.Context, thread string) (threading.Ref, bool, error) {
	if thread == "" {
		return threading.Ref{}, false, nil
	}
	return d.ref(ctx, `SELECT message_id, mailbox_id, contract_id, thread FROM correio_outbox
		WHERE thread <> '' AND lower(thread) = lower(?) ORDER BY enqueued_ns DESC, id DESC LIMIT 1`, thread)
}

// Suppressed implements store.Suppressions.
func (d *Suppressions) Suppressed(ctx context.Context, address string) (string, bool, error) {
	var reason string
	found := false
	err := d.read(ctx, func(q Q) error {
		err := q.QueryRow(ctx, "SELECT reason FROM correio_suppressions WHERE address = ?", strings.ToLower(address)).Scan(&reason)
		if d.noRows(err) {
			return nil
		}
		found = err == nil
		return err
	})
	return reason, found, err
}

// Suppress implements store.Suppressions.
func (d *Suppressions) Suppress(ctx context.Context, address, reason string) error {
	return d.write(ctx, func(q Q) error {
		_, err := q.Exec(ctx, `INSERT INTO correio_suppressions (address, reason, at_ns) VALUES (?, ?, ?)
			ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, at_ns = excluded.at_ns`,
			strings.ToLower(address), reason, time.Now().UnixNano())
		return err
	})
}

// Unsuppress removes address from the suppression list.
func (d *Suppressions) Unsuppress(ctx context.Context, address string) error {
	return d.write(ctx, func(q Q) error {
		_, err := q.Exec(ctx, "DELETE FROM correio_suppressions WHERE address = ?", strings.ToLower(address))
		return err
	})
}
