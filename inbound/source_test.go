package inbound_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// tracing wraps a transport.Source the way a host adds tracing: it counts
// the calls and passes them on.
type tracing struct {
	transport.Source
	mu    sync.Mutex
	calls map[string]int
	ids   []string // post-action IDs
}

func (t *tracing) count(op string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[op]
}

func (t *tracing) note(op string, ids ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[op]++
	t.ids = append(t.ids, ids...)
}

func (t *tracing) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	t.note("open")
	s, err := t.Source.Open(ctx, m)
	if err != nil {
		return nil, err
	}
	return &tracedSession{Session: s, t: t}, nil
}

type tracedSession struct {
	transport.Session
	t *tracing
}

func (s *tracedSession) List(ctx context.Context, c transport.Cursor) ([]transport.Item, error) {
	s.t.note("list")
	return s.Session.List(ctx, c)
}

func (s *tracedSession) Apply(ctx context.Context, a transport.Action, ids []string) error {
	s.t.note("apply:"+string(a.Kind), ids...)
	return s.Session.Apply(ctx, a, ids)
}

// TestPollerReadsThroughItsSource: the Poller reads only through
// Options.Source (here the IMAP source wrapped by the host), and a
// mailbox whose transport kind nobody registered says so in its health
// without disturbing the others.
func TestPollerReadsThroughItsSource(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("w", "pw-w")
	for i := 1; i <= 3; i++ {
		srv.Append("w", "INBOX", rawMsg("w", i))
	}
	tr := &tracing{Source: imap.NewSource(&imap.Config{Timeout: 2 * time.Second}), calls: map[string]int{}}
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.Source = transport.Sources{mailbox.TransportIMAP: tr}
	o.IMAP = nil
	other := mb("x", "x", srv.Host(), srv.Port())
	other.Inbound.Transport = "nowhere"
	r := start(t, o, mb("w", "w", srv.Host(), srv.Port()), other)
	eventually(t, "three messages handed and marked seen", func() bool {
		st, _ := srv.Status("w", "INBOX")
		return rec.count("w") == 3 && *st.NumUnseen == 0
	})
	if tr.count("open") == 0 || tr.count("list") == 0 || tr.count("apply:") == 0 {
		t.Fatalf("the poller went around its source: %v", tr.calls)
	}
	tr.mu.Lock()
	ids := strings.Join(tr.ids, ",")
	tr.mu.Unlock()
	if ids != "1,2,3" {
		t.Fatalf("post-actions applied to %q, want the three UIDs once", ids)
	}
	eventually(t, "the unregistered kind reported", func() bool {
		h := r.health("x")
		return strings.Contains(h.LastError, "no transport registered") && (h.State == engine.StateRetrying || h.State == engine.StateDown)
	})
	if rec.count("x") != 0 {
		t.Fatal("a mailbox without a transport was read")
	}
	if err := r.p.Validate(other); !errors.Is(err, transport.ErrNoTransport) {
		t.Fatalf("Validate of an unregistered kind: %v", err)
	}
}

// onlyDelete is a source that offers delete and keep only (like POP3).
type onlyDelete struct{ transport.Source }

func (onlyDelete) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostDelete, mailbox.PostKeep}
}

// TestPollerValidatePostAction: Validate refuses a post-action the
// mailbox's transport does not offer, with a field error.
func TestPollerValidatePostAction(t *testing.T) {
	p, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Catalog: memory.NewCatalog(), Handler: newRecorder(), Source: onlyDelete{imap.NewSource(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	m := mb("v", "v", "127.0.0.1", 143)
	fe := mailbox.FieldErrors(p.Validate(m)) // the default post-action: seen
	if len(fe) != 1 || fe[0].Path != "inbound.post_action" || fe[0].Code != mailbox.CodeUnsupported {
		t.Fatalf("field errors %+v", fe)
	}
	m.Inbound.PostAction = mailbox.PostDelete
	if err := p.Validate(m); err != nil {
		t.Fatalf("an offered post-action refused: %v", err)
	}
}

// TestStoredCheckpointResumes: a checkpoint as stores have always kept it
// (a UIDVALIDITY and a UID, written before cursors existed) is read as the
// IMAP cursor it is: the poller resumes after it, with nothing migrated.
func TestStoredCheckpointResumes(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("c", "pw-c")
	for i := 1; i <= 4; i++ {
		srv.Append("c", "INBOX", rawMsg("c", i))
	}
	st, _ := srv.Status("c", "INBOX")
	ist := memory.NewInboundStore()
	if err := ist.SetCheckpoint(context.Background(), "c", "INBOX", store.Checkpoint{UIDValidity: st.UIDValidity, LastUID: 2}, 0); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	start(t, fastOptions(ist, rec), mb("c", "c", srv.Host(), srv.Port()))
	eventually(t, "the two messages after the checkpoint", func() bool {
		cp, _, _ := ist.Checkpoint(context.Background(), "c", "INBOX")
		return rec.count("c") == 2 && cp.LastUID == 4
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.raw["c/c-1@example.com"] != nil || rec.raw["c/c-2@example.com"] != nil || rec.raw["c/c-3@example.com"] == nil {
		t.Fatalf("handed %v, want messages 3 and 4 only", rec.per)
	}
}
