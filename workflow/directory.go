package workflow

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// User is a person of the host's directory.
type User struct {
	ID      UserID
	Name    string
	Address string // may be empty: such users are reported, not mailed
}

// Directory is implemented by the host: it turns users and groups into
// names and addresses.
type Directory interface {
	User(ctx context.Context, id UserID) (User, error)
	GroupMembers(ctx context.Context, id GroupID) ([]User, error)
}

// ErrNoRecipients is returned when expansion leaves no address to send to.
var ErrNoRecipients = errors.New("workflow: no recipient with an address")

// Recipient is one expanded address.
type Recipient struct {
	Name    string
	Address string
	// User is set when the address came from a directory user.
	User UserID
}

// Expansion is the result of expanding Recipients.
type Expansion struct {
	// To holds the unique addresses, in the order first met.
	To []Recipient
	// WithoutAddress lists users that have no (valid) address.
	WithoutAddress []UserID
	// Invalid lists plain addresses that could not be parsed.
	Invalid []string
}

// Expand resolves users, group members and plain addresses through dir,
// deduplicating addresses case-insensitively. It returns ErrNoRecipients
// (wrapped, with the Expansion still describing what was skipped) when no
// address is left. Directory errors are returned as they are.
func Expand(ctx context.Context, dir Directory, r Recipients) (Expansion, error) {
	var exp Expansion
	seen := map[string]bool{}
	noAddr := map[UserID]bool{}
	addUser := func(u User) {
		addr, ok := normalizeAddress(u.Address)
		if !ok {
			if !noAddr[u.ID] {
				noAddr[u.ID] = true
				exp.WithoutAddress = append(exp.WithoutAddress, u.ID)
			}
			return
		}
		key := strings.ToLower(addr)
		if seen[key] {
			return
		}
		seen[key] = true
		exp.To = append(exp.To, Recipient{Name: u.Name, Address: addr, User: u.ID})
	}
	for _, id := range r.Users {
		if dir == nil {
			return exp, fmt.Errorf("workflow: user %q given but no directory", id)
		}
		u, err := dir.User(ctx, id)
		if err != nil {
			return exp, fmt.Errorf("workflow: user %q: %w", id, err)
		}
		if u.ID == "" {
			u.ID = id
		}
		addUser(u)
	}
	for _, g := range r.Groups {
		if dir == nil {
			return exp, fmt.Errorf("workflow: group %q given but no directory", g)
		}
		members, err := dir.GroupMembers(ctx, g)
		if err != nil {
			return exp, fmt.Errorf("workflow: group %q: %w", g, err)
		}
		for _, u := range members {
			addUser(u)
		}
	}
	for _, a := range r.Addresses {
		pa, err := mail.ParseAddress(a)
		if err != nil || strings.ContainsAny(a, "\r\n") {
			exp.Invalid = append(exp.Invalid, a)
			continue
		}
		key := strings.ToLower(pa.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		exp.To = append(exp.To, Recipient{Name: pa.Name, Address: pa.Address})
	}
	if len(exp.To) == 0 {
		return exp, fmt.Errorf("%w (%d users without an address, %d invalid addresses)", ErrNoRecipients, len(exp.WithoutAddress), len(exp.Invalid))
	}
	return exp, nil
}

func normalizeAddress(a string) (string, bool) {
	a = strings.TrimSpace(a)
	if a == "" || strings.ContainsAny(a, "\r\n") {
		return "", false
	}
	pa, err := mail.ParseAddress(a)
	if err != nil {
		return "", false
	}
	return pa.Address, true
}

// Batches groups the expansion's recipients into messages according to
// mode: one batch per recipient, or a single batch (first in To, the rest
// in Bcc).
func (e Expansion) Batches(mode DeliveryMode) [][]Recipient {
	if len(e.To) == 0 {
		return nil
	}
	if mode == SingleBcc {
		return [][]Recipient{e.To}
	}
	out := make([][]Recipient, len(e.To))
	for i := range e.To {
		out[i] = e.To[i : i+1]
	}
	return out
}
