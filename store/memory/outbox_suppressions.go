package memory

import (
	"context"
	"strings"
	"sync"

	"github.com/correio-dev/correio/store"
)

// Suppressions is an in-memory store.Suppressions list, keyed by
// lower-cased address. Safe for concurrent use.
type Suppressions struct {
	mu sync.Mutex
	m  map[string]string
}

// NewSuppressions returns an empty list.
func NewSuppressions() *Suppressions { return &Suppressions{m: map[string]string{}} }

var _ store.Suppressions = (*Suppressions)(nil)

// Suppressed implements store.Suppressions.
func (s *Suppressions) Suppressed(_ context.Context, address string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[strings.ToLower(address)]
	return r, ok, nil
}

// Suppress implements store.Suppressions.
func (s *Suppressions) Suppress(_ context.Context, address, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[strings.ToLower(address)] = reason
	return nil
}

// Unsuppress removes address from the list.
func (s *Suppressions) Unsuppress(_ context.Context, address string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, strings.ToLower(address))
	return nil
}
