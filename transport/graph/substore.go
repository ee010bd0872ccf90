package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/correio-dev/correio/mailbox"
)

// MemorySubscriptions is a SubscriptionStore in memory: for tests, and for
// hosts that delete their subscriptions before they stop (a crash leaks
// them until they expire, at most NotifyConfig.Lifetime later).
type MemorySubscriptions struct {
	mu   sync.Mutex
	subs map[mailbox.ID]Subscription
}

// NewMemorySubscriptions returns an empty MemorySubscriptions.
func NewMemorySubscriptions() *MemorySubscriptions {
	return &MemorySubscriptions{subs: map[mailbox.ID]Subscription{}}
}

// Subscription implements SubscriptionStore.
func (m *MemorySubscriptions) Subscription(_ context.Context, mb mailbox.ID) (Subscription, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[mb]
	return s, ok, nil
}

// PutSubscription implements SubscriptionStore.
func (m *MemorySubscriptions) PutSubscription(_ context.Context, s Subscription) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs[s.Mailbox] = s
	return nil
}

// DeleteSubscription implements SubscriptionStore.
func (m *MemorySubscriptions) DeleteSubscription(_ context.Context, mb mailbox.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subs, mb)
	return nil
}

// Subscriptions implements SubscriptionStore.
func (m *MemorySubscriptions) Subscriptions(context.Context) ([]Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Subscription, 0, len(m.subs))
	for _, s := range m.subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out, nil
}

// FileSubscriptions is a durable SubscriptionStore: one small JSON file
// per mailbox in a directory, written to a temporary file, synced and
// renamed, so a crash leaves the old record or the new one. The records
// hold no secret (see Subscription).
type FileSubscriptions struct{ dir string }

// NewFileSubscriptions returns a store in dir, creating it (mode 0700).
func NewFileSubscriptions(dir string) (*FileSubscriptions, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("graph: subscription store: %w", err)
	}
	return &FileSubscriptions{dir: dir}, nil
}

func (f *FileSubscriptions) path(mb mailbox.ID) string {
	h := sha256.Sum256([]byte(mb))
	return filepath.Join(f.dir, "sub-"+hex.EncodeToString(h[:12])+".json")
}

// Subscription implements SubscriptionStore.
func (f *FileSubscriptions) Subscription(_ context.Context, mb mailbox.ID) (Subscription, bool, error) {
	b, err := os.ReadFile(f.path(mb))
	if errors.Is(err, os.ErrNotExist) {
		return Subscription{}, false, nil
	}
	if err != nil {
		return Subscription{}, false, fmt.Errorf("graph: subscription store: %w", err)
	}
	var s Subscription
	if err := json.Unmarshal(b, &s); err != nil || s.Mailbox != mb {
		return Subscription{}, false, fmt.Errorf("graph: subscription store: unreadable record for mailbox %q", mb)
	}
	return s, true, nil
}

// PutSubscription implements SubscriptionStore.
func (f *FileSubscriptions) PutSubscription(_ context.Context, s Subscription) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	p := f.path(s.Mailbox)
	tmp, err := os.CreateTemp(f.dir, ".sub-*")
	if err != nil {
		return fmt.Errorf("graph: subscription store: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("graph: subscription store: %w", err)
	}
	if d, err := os.Open(f.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// DeleteSubscription implements SubscriptionStore.
func (f *FileSubscriptions) DeleteSubscription(_ context.Context, mb mailbox.ID) error {
	if err := os.Remove(f.path(mb)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("graph: subscription store: %w", err)
	}
	return nil
}

// Subscriptions implements SubscriptionStore.
func (f *FileSubscriptions) Subscriptions(context.Context) ([]Subscription, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("graph: subscription store: %w", err)
	}
	var out []Subscription
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "sub-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("graph: subscription store: %w", err)
		}
		var s Subscription
		if json.Unmarshal(b, &s) == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out, nil
}

// StateStore is the part of a store.TransportState StateSubscriptions uses
// (store/sqlite, store/postgres and store/memory implement it:
// st.TransportState()). It is declared here so this package needs no store.
type StateStore interface {
	State(ctx context.Context, mb mailbox.ID, name string) ([]byte, bool, error)
	PutState(ctx context.Context, mb mailbox.ID, name string, value []byte) error
	DeleteState(ctx context.Context, mb mailbox.ID, name string) error
	States(ctx context.Context, name string) (map[mailbox.ID][]byte, error)
}

// SubscriptionStateName is the name subscriptions are kept under in a
// StateStore.
const SubscriptionStateName = "graph.subscription"

// StateSubscriptions is a SubscriptionStore over the host's store (the
// table correio_transport_state of the SQL stores): the subscriptions
// survive restarts with the rest of correio's state, and every replica
// sharing the database sees them.
func StateSubscriptions(st StateStore) SubscriptionStore { return stateSubs{st} }

type stateSubs struct{ st StateStore }

func (s stateSubs) Subscription(ctx context.Context, mb mailbox.ID) (Subscription, bool, error) {
	b, ok, err := s.st.State(ctx, mb, SubscriptionStateName)
	if err != nil || !ok {
		return Subscription{}, false, err
	}
	var sub Subscription
	if err := json.Unmarshal(b, &sub); err != nil || sub.Mailbox != mb {
		return Subscription{}, false, fmt.Errorf("graph: subscription store: unreadable record for mailbox %q", mb)
	}
	return sub, true, nil
}

func (s stateSubs) PutSubscription(ctx context.Context, sub Subscription) error {
	b, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	return s.st.PutState(ctx, sub.Mailbox, SubscriptionStateName, b)
}

func (s stateSubs) DeleteSubscription(ctx context.Context, mb mailbox.ID) error {
	return s.st.DeleteState(ctx, mb, SubscriptionStateName)
}

func (s stateSubs) Subscriptions(ctx context.Context) ([]Subscription, error) {
	all, err := s.st.States(ctx, SubscriptionStateName)
	if err != nil {
		return nil, err
	}
	out := make([]Subscription, 0, len(all))
	for mb, b := range all {
		var sub Subscription
		if json.Unmarshal(b, &sub) == nil && sub.Mailbox == mb {
			out = append(out, sub)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out, nil
}
