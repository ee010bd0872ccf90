package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
)

// Tokens implements store.Tokens: each mailbox's OAuth2 grant in one row,
// both tokens sealed with the store's secrets codec (the one sealing
// passwords), replaced whole by one upsert so a rotated refresh token is
// written atomically. Without a codec a grant with a token is refused with
// secrets.ErrNoCodec, never stored in clear.
type Tokens struct {
	*db
	codec secrets.Codec
}

var _ store.Tokens = (*Tokens)(nil)

// Places the grant's tokens are sealed at: a sealed value moved to another
// mailbox or column does not open.
func grantPlace(id mailbox.ID, which string) secrets.Place {
	return secrets.Place{Mailbox: id, Field: "oauth2_grant." + which}
}

// Tokens returns the OAuth2 grant store.
func (s *Store) Tokens() *Tokens { return s.tok }

func (t *Tokens) seal(ctx context.Context, id mailbox.ID, which string, s mailbox.Secret) ([]byte, error) {
	if s.IsZero() {
		return nil, nil
	}
	if t.codec == nil {
		return nil, secrets.ErrNoCodec
	}
	return t.codec.Seal(ctx, grantPlace(id, which), s)
}

func (t *Tokens) open(ctx context.Context, id mailbox.ID, which string, b []byte) (mailbox.Secret, error) {
	if len(b) == 0 {
		return mailbox.Secret{}, nil
	}
	if t.codec == nil {
		return mailbox.Secret{}, secrets.ErrNoCodec
	}
	s, err := t.codec.Open(ctx, grantPlace(id, which), b)
	if err != nil {
		return mailbox.Secret{}, fmt.Errorf("sqlstore: open OAuth2 %s token of mailbox %q: %w", which, id, err)
	}
	return s, nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// PutToken implements store.Tokens.
func (t *Tokens) PutToken(ctx context.Context, id mailbox.ID, g store.Token) error {
	if id == "" {
		return fmt.Errorf("%w: empty mailbox ID", store.ErrNotFound)
	}
	rt, err := t.seal(ctx, id, "refresh", g.RefreshToken)
	if err != nil {
		return err
	}
	at, err := t.seal(ctx, id, "access", g.AccessToken)
	if err != nil {
		return err
	}
	return t.auto(ctx, func(q Q) error {
		_, err := q.Exec(ctx, `INSERT INTO correio_oauth2_tokens (mailbox_id, provider, account, scopes, refresh, access, expiry_ms, updated_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (mailbox_id) DO UPDATE SET provider = excluded.provider, account = excluded.account, scopes = excluded.scopes,
				refresh = excluded.refresh, access = excluded.access, expiry_ms = excluded.expiry_ms, updated_ms = excluded.updated_ms`,
			string(id), g.Provider, g.Account, strings.Join(g.Scopes, " "), rt, at, millis(g.Expiry), millis(g.Updated))
		return err
	})
}

// GetToken implements store.Tokens.
func (t *Tokens) GetToken(ctx context.Context, id mailbox.ID) (store.Token, error) {
	var (
		g          store.Token
		scopes     string
		rt, at     []byte
		exp, updMs int64
	)
	err := t.read(ctx, func(q Q) error {
		return q.QueryRow(ctx, `SELECT provider, account, scopes, refresh, access, expiry_ms, updated_ms
			FROM correio_oauth2_tokens WHERE mailbox_id = ?`, string(id)).Scan(&g.Provider, &g.Account, &scopes, &rt, &at, &exp, &updMs)
	})
	if err != nil {
		if t.noRows(err) {
			return store.Token{}, fmt.Errorf("%w: OAuth2 grant of mailbox %q", store.ErrNotFound, id)
		}
		return store.Token{}, err
	}
	if g.RefreshToken, err = t.open(ctx, id, "refresh", rt); err != nil {
		return store.Token{}, err
	}
	if g.AccessToken, err = t.open(ctx, id, "access", at); err != nil {
		return store.Token{}, err
	}
	g.Scopes = strings.Fields(scopes)
	g.Expiry, g.Updated = fromMillis(exp), fromMillis(updMs)
	return g, nil
}

// DeleteToken implements store.Tokens.
func (t *Tokens) DeleteToken(ctx context.Context, id mailbox.ID) error {
	return t.auto(ctx, func(q Q) error {
		_, err := q.Exec(ctx, "DELETE FROM correio_oauth2_tokens WHERE mailbox_id = ?", string(id))
		return err
	})
}

// Reseal rewrites every grant sealed with a key other than the codec's
// current one (after a secrets.Keyring rotation, like Catalog.Reseal does
// for passwords), in one transaction, and returns how many tokens it
// rewrote. A grant the codec cannot open fails the pass; nothing is
// rewritten then.
func (t *Tokens) Reseal(ctx context.Context) (int, error) {
	rs, ok := t.codec.(resealer)
	if !ok {
		return 0, nil
	}
	n := 0
	err := t.write(ctx, func(q Q) error {
		n = 0
		type row struct {
			id     string
			rt, at []byte
		}
		var stale []row
		rows, err := q.Query(ctx, "SELECT mailbox_id, refresh, access FROM correio_oauth2_tokens")
		if err != nil {
			return err
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.rt, &r.at); err != nil {
				rows.Close()
				return err
			}
			if (len(r.rt) > 0 && rs.NeedsReseal(r.rt)) || (len(r.at) > 0 && rs.NeedsReseal(r.at)) {
				stale = append(stale, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		redo := func(id mailbox.ID, which string, b []byte) ([]byte, error) {
			if len(b) == 0 || !rs.NeedsReseal(b) {
				return b, nil
			}
			s, err := t.open(ctx, id, which, b)
			if err != nil {
				return nil, err
			}
			n++
			return t.codec.Seal(ctx, grantPlace(id, which), s)
		}
		for _, r := range stale {
			id := mailbox.ID(r.id)
			rt, err := redo(id, "refresh", r.rt)
			if err != nil {
				return err
			}
			at, err := redo(id, "access", r.at)
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "UPDATE correio_oauth2_tokens SET refresh = ?, access = ? WHERE mailbox_id = ?", rt, at, r.id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
