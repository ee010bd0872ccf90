package sqlstore

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// TransportState implements store.TransportState in the table
// correio_transport_state.
type TransportState struct{ *db }

var _ store.TransportState = (*TransportState)(nil)

// State implements store.TransportState.
func (d *TransportState) State(ctx context.Context, mb mailbox.ID, name string) ([]byte, bool, error) {
	var v []byte
	found := false
	err := d.read(ctx, func(q Q) error {
		err := q.QueryRow(ctx, "SELECT value FROM correio_transport_state WHERE mailbox_id = ? AND name = ?", string(mb), name).Scan(&v)
		if d.noRows(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("transport state: %w", err)
	}
	return v, found, nil
}

// PutState implements store.TransportState.
func (d *TransportState) PutState(ctx context.Context, mb mailbox.ID, name string, value []byte) error {
	if len(value) > store.MaxStateSize {
		return fmt.Errorf("%w: %d bytes", store.ErrStateTooLarge, len(value))
	}
	if value == nil {
		value = []byte{}
	}
	err := d.auto(ctx, func(q Q) error {
		_, err := q.Exec(ctx, `INSERT INTO correio_transport_state (mailbox_id, name, value) VALUES (?, ?, ?)
			ON CONFLICT (mailbox_id, name) DO UPDATE SET value = excluded.value`, string(mb), name, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("transport state: %w", err)
	}
	return nil
}

// DeleteState implements store.TransportState.
func (d *TransportState) DeleteState(ctx context.Context, mb mailbox.ID, name string) error {
	err := d.auto(ctx, func(q Q) error {
		_, err := q.Exec(ctx, "DELETE FROM correio_transport_state WHERE mailbox_id = ? AND name = ?", string(mb), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("transport state: %w", err)
	}
	return nil
}

// States implements store.TransportState.
func (d *TransportState) States(ctx context.Context, name string) (map[mailbox.ID][]byte, error) {
	out := map[mailbox.ID][]byte{}
	err := d.read(ctx, func(q Q) error {
		rows, err := q.Query(ctx, "SELECT mailbox_id, value FROM correio_transport_state WHERE name = ?", name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var mb string
			var v []byte
			if err := rows.Scan(&mb, &v); err != nil {
				return err
			}
			out[mailbox.ID(mb)] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("transport state: %w", err)
	}
	return out, nil
}
