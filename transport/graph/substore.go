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
