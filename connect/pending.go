package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// Kind says which flow a pending connect belongs to.
type Kind string

// Kinds of pending connects.
const (
	KindCode         Kind = "code"
	KindAdminConsent Kind = "admin_consent"
)

// PendingConnect is what a Flow remembers between sending the browser to
// the provider and its return: the mailbox being connected, the PKCE
// verifier, the OpenID nonce, and a hash of the browser binding. It is kept
// under the state value, used once and only within the Flow's TTL.
type PendingConnect struct {
	Kind     Kind
	Mailbox  mailbox.ID
	Verifier mailbox.Secret
	Nonce    string
	// Binding is SHA-256 of the binding value the browser holds.
	Binding [sha256.Size]byte
	Scopes  []string
	Created time.Time
}

// Pending keeps pending connects. Take removes the connect it returns, so a
// state works once; it wraps ErrState for an unknown state. Hosts running
// several replicas behind one callback URL put it in their shared
// database; MemoryPending serves one process.
type Pending interface {
	PutPending(ctx context.Context, state string, p PendingConnect) error
	TakePending(ctx context.Context, state string) (PendingConnect, error)
}

// MemoryPending is an in-memory Pending that forgets connects older than
// TTL when new ones are put.
type MemoryPending struct {
	// TTL bounds how long an abandoned connect is kept (default 10 minutes).
	TTL time.Duration
	mu  sync.Mutex
	m   map[string]PendingConnect
}

// PutPending implements Pending.
func (m *MemoryPending) PutPending(_ context.Context, state string, p PendingConnect) error {
	ttl := m.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]PendingConnect{}
	}
	for k, v := range m.m {
		if p.Created.Sub(v.Created) > ttl {
			delete(m.m, k)
		}
	}
	m.m[state] = p
	return nil
}

// TakePending implements Pending.
func (m *MemoryPending) TakePending(_ context.Context, state string) (PendingConnect, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.m[state]
	if !ok {
		return PendingConnect{}, fmt.Errorf("%w", ErrState)
	}
	delete(m.m, state)
	return p, nil
}

const defaultTTL = 10 * time.Minute

// random returns n random bytes, base64url without padding.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewBinding returns a fresh random binding value: put it in a cookie (or
// the session) of the browser that starts a connect, and give the same
// value to Finish.
func NewBinding() string { return random(32) }
