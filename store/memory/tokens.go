package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// Tokens keeps OAuth2 grants in memory (store.Tokens). It is safe for
// concurrent use; values are copied in and out.
type Tokens struct {
	mu sync.Mutex
	m  map[mailbox.ID]store.Token
}

// NewTokens returns an empty grant store.
func NewTokens() *Tokens { return &Tokens{m: map[mailbox.ID]store.Token{}} }

var _ store.Tokens = (*Tokens)(nil)

// GetToken implements store.Tokens.
func (s *Tokens) GetToken(_ context.Context, id mailbox.ID) (store.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[id]
	if !ok {
		return store.Token{}, fmt.Errorf("%w: OAuth2 grant of mailbox %q", store.ErrNotFound, id)
	}
	t.Scopes = slices.Clone(t.Scopes)
	return t, nil
}

// PutToken implements store.Tokens.
func (s *Tokens) PutToken(_ context.Context, id mailbox.ID, t store.Token) error {
	if id == "" {
		return fmt.Errorf("%w: empty mailbox ID", store.ErrNotFound)
	}
	t.Scopes = slices.Clone(t.Scopes)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = t
	return nil
}

// DeleteToken implements store.Tokens.
func (s *Tokens) DeleteToken(_ context.Context, id mailbox.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}
