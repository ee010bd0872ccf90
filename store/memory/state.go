package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// TransportState is a store.TransportState in memory.
type TransportState struct {
	mu sync.Mutex
	m  map[string]map[mailbox.ID][]byte // name -> mailbox -> value
}

// NewTransportState returns an empty TransportState.
func NewTransportState() *TransportState {
	return &TransportState{m: map[string]map[mailbox.ID][]byte{}}
}

var _ store.TransportState = (*TransportState)(nil)

// State implements store.TransportState.
func (s *TransportState) State(_ context.Context, mb mailbox.ID, name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name][mb]
	return append([]byte(nil), v...), ok, nil
}

// PutState implements store.TransportState.
func (s *TransportState) PutState(_ context.Context, mb mailbox.ID, name string, value []byte) error {
	if len(value) > store.MaxStateSize {
		return fmt.Errorf("%w: %d bytes", store.ErrStateTooLarge, len(value))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[name] == nil {
		s.m[name] = map[mailbox.ID][]byte{}
	}
	s.m[name][mb] = append([]byte(nil), value...)
	return nil
}

// DeleteState implements store.TransportState.
func (s *TransportState) DeleteState(_ context.Context, mb mailbox.ID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m[name], mb)
	return nil
}

// States implements store.TransportState.
func (s *TransportState) States(_ context.Context, name string) (map[mailbox.ID][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[mailbox.ID][]byte, len(s.m[name]))
	for mb, v := range s.m[name] {
		out[mb] = append([]byte(nil), v...)
	}
	return out, nil
}
