package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/correio-dev/correio/message"
)

// Bounce is a delivery report linked to the outbox record it answers.
type Bounce struct {
	RecordID  string
	Recipient string
	// Status is the enhanced status code ("5.1.1"), "" if none.
	Status    string
	Permanent bool
	// Reason is the diagnostic the report gave.
	Reason string
	At     time.Time
}

// LinkBounce records a bounce the inbound side parsed
// (Delivery.Classification.Bounce) against the outbox record it answers,
// found by its original Message-ID, one row per reported recipient, and
// suppresses the recipients that failed permanently — in one transaction.
// found is false when the bounce names no message of this outbox.
func (d *Outbox) LinkBounce(ctx context.Context, b *message.Bounce, at time.Time) (recordID string, found bool, err error) {
	if b == nil || b.OriginalMessageID == "" {
		return "", false, nil
	}
	err = d.write(ctx, func(q Q) error {
		err := q.QueryRow(ctx, `SELECT id FROM correio_outbox WHERE lower(message_id) = lower(?)
			ORDER BY enqueued_ns DESC, id DESC LIMIT 1`, strings.Trim(b.OriginalMessageID, "<> ")).Scan(&recordID)
		if d.noRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		rcpts := b.Recipients
		if len(rcpts) == 0 {
			rcpts = []message.BounceRecipient{{Status: b.Status, Permanent: b.Permanent}}
		}
		for _, r := range rcpts {
			reason := strings.TrimSpace(r.DiagnosticCode)
			if reason == "" {
				reason = strings.TrimSpace(r.ReplyCode + " " + r.Status)
			}
			if _, err := q.Exec(ctx, `INSERT INTO correio_outbox_bounces (record_id, recipient, status, permanent, reason, at_ns)
				VALUES (?, ?, ?, ?, ?, ?)`, recordID, strings.ToLower(r.Address), r.Status, r.Permanent, reason, ns(at)); err != nil {
				return err
			}
			if r.Permanent && r.Address != "" {
				if _, err := q.Exec(ctx, `INSERT INTO correio_suppressions (address, reason, at_ns) VALUES (?, ?, ?)
					ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, at_ns = excluded.at_ns`,
					strings.ToLower(r.Address), fmt.Sprintf("bounce of %s: %s", recordID, reason), ns(at)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return recordID, found, nil
}

// Bounces lists the bounces linked to an outbox record, oldest first.
func (d *Outbox) Bounces(ctx context.Context, recordID string) ([]Bounce, error) {
	var out []Bounce
	err := d.read(ctx, func(q Q) error {
		rows, err := q.Query(ctx, `SELECT recipient, status, permanent, reason, at_ns FROM correio_outbox_bounces
			WHERE record_id = ? ORDER BY id`, recordID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b := Bounce{RecordID: recordID}
			var at int64
			if err := rows.Scan(&b.Recipient, &b.Status, &b.Permanent, &b.Reason, &at); err != nil {
				return err
			}
			b.At = fromNS(at)
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}
